import pytest
import torch
from torch import nn

from neon_theory.params import parameter_vector, set_parameter_vector, state_vector, unflatten
from neon_theory.rng import child_seed, draw, generator


def test_named_streams_are_reproducible_and_distinct():
    a = draw(torch.rand, 3, generator=generator(7, "noise"))
    assert torch.equal(a, draw(torch.rand, 3, generator=generator(7, "noise")))
    assert not torch.equal(a, draw(torch.rand, 3, generator=generator(7, "data")))
    assert not torch.equal(a, draw(torch.rand, 3, generator=generator(8, "noise")))
    assert 0 <= child_seed(0, "x") < 2**63


@pytest.mark.parametrize("seed", [-1, 1.5, "3", None])
def test_seeds_are_validated(seed):
    with pytest.raises(ValueError, match="seed"):
        generator(seed, "x")


def test_flat_parameter_round_trip():
    net = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    net[1].bias.requires_grad_(False)  # frozen parameters are not coordinates of θ
    v = parameter_vector(net)
    assert v.shape == (3 * 2 + 2 + 2,) and v.dtype == torch.float64
    set_parameter_vector(net, v + 1)
    # float32 parameters hold v + 1 rounded to float32: exactly that, read back in float64
    expected = (v + 1).float().double()
    assert torch.equal(parameter_vector(net), expected)
    assert torch.equal(state_vector(net, net.state_dict()), expected)
    with pytest.raises(ValueError, match="vector"):
        unflatten(torch.zeros(3), net)
    with pytest.raises(ValueError, match="lacks"):
        state_vector(net, {})
