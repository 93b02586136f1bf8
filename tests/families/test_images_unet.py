"""The image UNet is a drop-in network for the diffusion and flow families: images run the same engine path."""

import pytest
import torch
from torch import nn

from neon_theory.contracts import check_model
from neon_theory.gradients import per_sample_gradients
from neon_theory.neon import fit
from neon_theory.rng import draw, generator
from neon_theory.samplers import Chain, Guidance, Steps
from toy_models._conditional import TimeNet
from toy_models.diffusion import DiffusionModel, Schedule
from toy_models.flow import FlowModel
from toy_models.images.data import digits
from toy_models.images.unet import TimeUNet


def _unet(**kw):
    torch.manual_seed(0)
    return TimeUNet((1, 8, 8), **{"channels": 8, "levels": 2, **kw}).double()


def test_the_unet_normalises_with_groupnorm_only_and_keeps_examples_apart():
    net = _unet(num_classes=3)
    assert any(isinstance(m, nn.GroupNorm) for m in net.modules())
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())
    x = draw(torch.randn, 5, 64, generator=generator(0, "x"), dtype=torch.float64)
    t = draw(torch.rand, 5, 1, generator=generator(0, "t"), dtype=torch.float64)
    y = torch.tensor([0, 1, 2, -1, 0])
    out = net(x, t, y)
    assert out.shape == (5, 64)
    alone = torch.cat([net(x[i : i + 1], t[i : i + 1], y[i : i + 1]) for i in range(5)])
    torch.testing.assert_close(out, alone, rtol=0, atol=1e-12)  # no coupling across the batch
    assert not torch.allclose(net(x, t, y), net(x, t, torch.full_like(y, -1)))  # the class reaches the output


@pytest.mark.parametrize(
    "kw, needle",
    [(dict(shape=(1, 8)), "shape must be"), (dict(shape=(1, 6, 6), levels=3), "divisible by 2"), (dict(levels=5), "levels"), (dict(channels=0), "channels")],
)
def test_bad_unet_settings_name_the_parameter(kw, needle):
    with pytest.raises(ValueError, match=needle):
        TimeUNet(**{"shape": (1, 8, 8), **kw})


@pytest.mark.slow
def test_diffusion_and_flow_on_digits_go_through_the_contract_and_the_engine():
    d = digits("train", 8)
    x = torch.cat([d.images.flatten(1), d.labels[:, None].float()], 1).double()
    model = DiffusionModel(_unet(num_classes=10), Schedule("cosine", 1000))
    check_model(model)
    noise = model.draw_noise(3, generator(0, "n"))
    rows = per_sample_gradients(model, x[:3], noise)  # per example, as the engine's estimators use them
    total = torch.autograd.grad(model.per_example_loss(x[:3], noise).sum(), list(model.module.parameters()))
    torch.testing.assert_close(rows.sum(0), torch.cat([g.flatten() for g in total]), rtol=1e-9, atol=1e-11)
    held_out = torch.cat([digits("test", 8).images.flatten(1), digits("test", 8).labels[:, None].float()], 1).double()[:256]
    eval_noise = model.draw_noise(256, generator(0, "eval"))
    before = float(model.per_example_loss(held_out, eval_noise).mean().detach())
    fit(model, x, steps=60, lr=3e-3, batch_size=128, generator=generator(0, "fit"))
    after = float(model.per_example_loss(held_out, eval_noise).mean().detach())
    assert after < 0.8 * before, (before, after)  # it learns: the held-out denoising loss drops
    s = model.sample(6, Chain((Steps(5, "ddim"), Guidance(2.0))), generator(0, "s"))
    assert s.shape == (6, 65) and torch.isfinite(s).all() and set(s[:, -1].tolist()) <= set(range(10))
    flow = FlowModel(_unet())
    check_model(flow)
    assert flow.sample(4, Steps(3, "heun"), generator(0, "f")).shape == (4, 64)


class _Fixed(TimeNet):
    """A network that returns a fixed output (times a parameter w = 1), to check what the family does with it."""

    def __init__(self, out: torch.Tensor):
        super().__init__(out.shape[1])
        self.out = out
        self.w = nn.Parameter(torch.ones(1, dtype=torch.float64))

    def forward(self, x, time_input, labels=None):
        return self.w * self.out


def test_v_prediction_trains_on_v_and_samples_with_the_eps_it_implies():
    x0 = draw(torch.randn, 6, 4, generator=generator(0, "x0"), dtype=torch.float64)
    model = DiffusionModel(_Fixed(torch.zeros(6, 4, dtype=torch.float64)), Schedule("cosine", 100), prediction="v")
    t, eps = model.draw_noise(6, generator(0, "noise"))
    ab = Schedule("cosine", 100).alpha_bar.double()[t][:, None]
    v = ab.sqrt() * eps - (1 - ab).sqrt() * x0  # re-derived here, not read from the family
    torch.testing.assert_close(model.per_example_loss(x0, (t, eps)), (v**2).mean(-1).detach())
    eps_model = DiffusionModel(_Fixed(torch.zeros(6, 4, dtype=torch.float64)), Schedule("cosine", 100))
    torch.testing.assert_close(eps_model.per_example_loss(x0, (t, eps)), (eps**2).mean(-1))
    # a network that predicts the true v gives back the true ε at every noise level
    for i in range(6):
        a = float(ab[i])
        xt = a**0.5 * x0[i : i + 1] + (1 - a) ** 0.5 * eps[i : i + 1]
        oracle = DiffusionModel(_Fixed(v[i : i + 1].detach()), prediction="v")
        torch.testing.assert_close(oracle.eps(xt, a, 0.5, None), eps[i : i + 1], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="prediction must be one of"):
        DiffusionModel(_unet(), prediction="x0")
