"""The second, optional contract (uniform-driven draws for sampling='rqmc') and its checker."""

import pytest
import torch

from neon_theory.contracts import QuasiRandomLaw, QuasiRandomModel, QuasiRandomNoise
from neon_theory.samplers import Temperature
from neon_theory.testing import ContractError, assert_quasi_random
from studies.official_ar.toy import ARToyConfig, ar_base
from studies.official_diffusion.toy import DiffusionToyConfig, diffusion_base, diffusion_sampler
from toy_models.gmm import official_gaussian


@pytest.fixture(scope="module")
def diffusion():
    cfg = DiffusionToyConfig.preset("smoke")
    return diffusion_base(cfg, 3), diffusion_sampler(cfg, 1.1)


def test_the_toolkits_quasi_random_families_meet_the_contract(diffusion):
    model, sampler = diffusion
    assert isinstance(model, QuasiRandomModel) and isinstance(model, QuasiRandomNoise)
    assert_quasi_random(model, sampler=sampler, seed=5)
    ar = ar_base(ARToyConfig.preset("smoke"), 4)
    assert isinstance(ar, QuasiRandomModel) and not isinstance(ar, QuasiRandomNoise)  # an NLL model: no loss noise
    assert_quasi_random(ar, sampler=Temperature(0.6, "std"), seed=6)
    assert isinstance(official_gaussian(), QuasiRandomLaw)
    assert_quasi_random(official_gaussian(), seed=7)


class _Law:
    """A wrapper of the official Gaussian whose uniform-driven draws can be broken on purpose."""

    def __init__(self, shift=0.0, dim=None, jitter=False):
        self.law, self.shift, self.dim, self.jitter = official_gaussian(), shift, dim, jitter

    def sample(self, n, generator):
        return self.law.sample(n, generator)

    def uniform_dim(self):
        return self.law.uniform_dim() if self.dim is None else self.dim

    def sample_from_uniform(self, u):
        x = self.law.sample_from_uniform(u) + self.shift
        return x + 1e-3 * torch.rand(x.shape, dtype=x.dtype) if self.jitter else x


def test_an_honest_wrapper_passes():
    assert_quasi_random(_Law(), seed=11)


@pytest.mark.parametrize("broken, message", [
    (_Law(shift=0.2), "do not draw the same law"),  # 0.2 of a unit std is ~9 SE at n = 4096
    (_Law(jitter=True), "function of u only"),
    (_Law(dim=0), "positive int"),
])
def test_a_broken_law_is_caught_with_a_message_naming_what(broken, message):
    with pytest.raises(ContractError, match=message):
        assert_quasi_random(broken, seed=11)


def test_a_noise_law_that_differs_from_draw_noise_is_caught(diffusion):
    model, sampler = diffusion

    class LateTimes:  # t from uniforms squeezed into the later half of the schedule
        def __init__(self, m):
            self.m, self.module, self.noise_dim = m, m.module, m.noise_dim

        def __getattr__(self, name):
            return getattr(self.m, name)

        def noise_from_uniform(self, u):
            u = u.clone()
            u[:, 0] = 0.5 + 0.5 * u[:, 0]
            return self.m.noise_from_uniform(u)

    with pytest.raises(ContractError, match="noise_from_uniform.*column 0.*same law"):
        assert_quasi_random(LateTimes(model), sampler=sampler, seed=5)


def test_something_with_neither_method_set_is_refused():
    with pytest.raises(ContractError, match="neither a QuasiRandomModel"):
        assert_quasi_random(object())
