"""SelfGuidedDiffusion (score-space guidance (1 + ω) ε̂_base − ω ε̂_self) and DiffusionSampler's
unconditional sampling from uniforms, with the exact scores of Gaussian mixtures: the guided ε̂ is
the stated combination, ω = 0 is the base bit for bit, and for two Gaussians with one covariance the
guided sampler is the exact sampler of the Gaussian with mean (1 + ω) m_a − ω m_b."""

import math

import pytest
import torch
from helpers import F64
from scipy import stats

from neon_theory.rng import draw, generator
from neon_theory.samplers import ScoreScale, Steps
from toy_models.diffusion import DiffusionSampler, ExactScoreDiffusion, Schedule, SelfGuidedDiffusion
from toy_models.gmm import GMM, two_class

K_SE = 5  # Monte Carlo checks: within 5 standard errors
DDIM = Steps(20, "ddim", eta=0.0)

SIGMA = 0.25 * torch.eye(2, dtype=F64)  # the shared covariance of the Gaussian case (std 0.5 per axis)
M_A = torch.tensor([1.0, 0.0], dtype=F64)
M_B = torch.tensor([0.0, 1.0], dtype=F64)


def _gaussian(mean: torch.Tensor) -> ExactScoreDiffusion:
    return ExactScoreDiffusion(GMM(torch.ones(1, dtype=F64), mean[None], SIGMA[None]))


def _mixtures() -> tuple[ExactScoreDiffusion, ExactScoreDiffusion]:
    a = GMM(torch.tensor([0.4, 0.6], dtype=F64), torch.tensor([[-1.0, 0.5], [1.5, -0.5]], dtype=F64),
            torch.tensor([[[0.5, 0.1], [0.1, 0.3]], [[0.2, 0.0], [0.0, 0.6]]], dtype=F64))
    b = GMM(torch.tensor([0.7, 0.3], dtype=F64), torch.tensor([[-0.5, 0.0], [2.0, 1.0]], dtype=F64),
            torch.tensor([[[0.8, -0.2], [-0.2, 0.4]], [[0.3, 0.1], [0.1, 0.3]]], dtype=F64))
    return ExactScoreDiffusion(a), ExactScoreDiffusion(b)


def _uniforms(n: int, seed: int = 0) -> torch.Tensor:
    return draw(torch.rand, n, 2, generator=generator(seed, "u"), dtype=F64)


# -- the guided noise prediction ------------------------------------------------------------------------


@pytest.mark.parametrize("omega", [-0.5, 0.0, 0.7, 3.0])
def test_guided_eps_is_one_plus_omega_base_minus_omega_other(omega):
    base, other = _mixtures()
    guided = SelfGuidedDiffusion(base, other, omega)
    x = 2 * draw(torch.randn, 30, 2, generator=generator(1, "x"), dtype=F64)
    for ab in (0.999, 0.5, 0.02):
        ti = 0.3
        e_a, e_b = base.eps(x, ab, ti, None), other.eps(x, ab, ti, None)
        assert torch.allclose(guided.eps(x, ab, ti, None), (1 + omega) * e_a - omega * e_b, rtol=0, atol=1e-12)
        if 1 + 2 * omega != 0:  # swapping base and other changes ε̂ by (1 + 2ω)(ε̂_a − ε̂_b): not symmetric unless ω = −½
            swapped = SelfGuidedDiffusion(other, base, omega).eps(x, ab, ti, None)
            assert not torch.allclose(swapped, guided.eps(x, ab, ti, None), rtol=0, atol=1e-6)


def test_the_guided_sampler_takes_the_base_models_shape():
    base, other = _mixtures()
    guided = SelfGuidedDiffusion(base, other, 1.0)
    assert guided.dim == 2 and guided.num_classes == 0 and guided.schedule is base.schedule and guided.grid == base.grid
    assert guided.device == base.device and guided.omega == 1.0


def test_omega_zero_gives_the_base_models_samples_bit_for_bit():
    base, other = _mixtures()
    guided = SelfGuidedDiffusion(base, other, 0.0)
    u = _uniforms(64)
    assert torch.equal(guided.sample_from_uniform(u, DDIM), base.sample_from_uniform(u, DDIM))
    stochastic = Steps(15, "ddim", eta=1.0)  # the same generator: the same noise at every step
    assert torch.equal(guided.sample(32, stochastic, generator(2, "s")), base.sample(32, stochastic, generator(2, "s")))
    moved = SelfGuidedDiffusion(base, other, 0.5).sample_from_uniform(u, DDIM)
    assert not torch.allclose(moved, base.sample_from_uniform(u, DDIM), rtol=0, atol=1e-3)  # ω ≠ 0 moves them


# -- two Gaussians with one covariance: the guided law is the Gaussian at (1 + ω) m_a − ω m_b ---------


@pytest.mark.parametrize("omega", [0.5, -0.5, 2.0])
def test_guiding_one_gaussian_by_another_is_the_exact_sampler_of_the_extrapolated_gaussian(omega):
    # With one covariance, the noised scores are −C⁻¹(x − √ᾱ m) with the same C = ᾱΣ + (1 − ᾱ)I, so
    # (1 + ω) score_a − ω score_b = −C⁻¹(x − √ᾱ m_g), m_g = (1 + ω) m_a − ω m_b: the same ε̂ at every step
    guided = SelfGuidedDiffusion(_gaussian(M_A), _gaussian(M_B), omega)
    exact = _gaussian((1 + omega) * M_A - omega * M_B)
    u = _uniforms(200, 3)
    assert torch.allclose(guided.sample_from_uniform(u, DDIM), exact.sample_from_uniform(u, DDIM), rtol=0, atol=1e-9)
    wrong = _gaussian((1 + omega) * M_A + omega * M_B)  # the sign of the other term flipped
    assert not torch.allclose(guided.sample_from_uniform(u, DDIM), wrong.sample_from_uniform(u, DDIM), rtol=0, atol=1e-2)


def test_guided_deterministic_ddim_samples_have_the_extrapolated_mean():
    omega = 1.0
    m_g = (1 + omega) * M_A - omega * M_B  # (2, −1)
    guided = SelfGuidedDiffusion(_gaussian(M_A), _gaussian(M_B), omega)
    steps = Steps(50, "ddim", eta=0.0)
    # Deterministic DDIM on a Gaussian's exact score is an affine map of the initial noise, so its mean is its image of
    # z = 0 (u = ½).  Its bias: the initial noise has mean 0 instead of √ᾱ_T m_g (√ᾱ_T ≈ 1.6e-3 on the cosine schedule,
    # T = 1000), an offset that DDIM's steps do not amplify here: |bias| ≲ 1.6e-3 |m_g| ≈ 4e-3; we allow 1e-2.
    centre = guided.sample_from_uniform(torch.full((1, 2), 0.5, dtype=F64), steps)[0]
    assert torch.allclose(centre, m_g, rtol=0, atol=1e-2)
    n = 1000
    x = guided.sample_from_uniform(_uniforms(n, 4), steps)
    se = x.std(0) / math.sqrt(n)  # ≈ 0.5 / √1000 ≈ 0.016
    assert bool(((x.mean(0) - m_g).abs() <= K_SE * se + 1e-2).all())  # k·SE plus the bias allowance above
    assert torch.allclose(x.std(0), torch.full((2,), 0.5, dtype=F64), rtol=0.1)  # the shared covariance is kept
    assert not bool(((x.mean(0) - M_A).abs() <= K_SE * se + 1e-2).all())  # and the base's mean is not


# -- sampling from uniforms -------------------------------------------------------------------------------


def test_sample_from_uniform_starts_from_the_normal_quantiles_of_u():
    # sample() draws its initial noise z = randn(n, D) from the generator; the uniforms Φ(z) must give the same draws
    base, _ = _mixtures()
    n = 50
    z = draw(torch.randn, n, 2, generator=generator(5, "s"), dtype=F64)
    u = torch.as_tensor(stats.norm.cdf(z.cpu().numpy()), dtype=F64)
    for sampler in (DDIM, Steps(12, "heun")):
        assert torch.allclose(base.sample_from_uniform(u, sampler), base.sample(n, sampler, generator(5, "s")), rtol=0, atol=1e-8)
    guided = SelfGuidedDiffusion(*_mixtures(), 0.8)
    assert torch.allclose(guided.sample_from_uniform(u, DDIM), guided.sample(n, DDIM, generator(5, "s")), rtol=0, atol=1e-8)


def test_sample_uniform_dim_is_d_for_a_deterministic_sampler_only():
    base, other = _mixtures()
    guided = SelfGuidedDiffusion(base, other, 0.5)
    for model in (base, guided):
        assert model.sample_uniform_dim(DDIM) == 2 and model.sample_uniform_dim(Steps(10, "euler")) == 2
        for bad in (None, Steps(10, "ddim", eta=1.0), Steps(10, "ddim", eta=0.3), Steps(10, "ddpm"), ScoreScale(1.5)):
            with pytest.raises(ValueError, match="deterministic"):
                model.sample_uniform_dim(bad)
            with pytest.raises(ValueError, match="deterministic"):
                model.sample_from_uniform(_uniforms(3), bad)
        with pytest.raises(ValueError, match="u"):
            model.sample_from_uniform(torch.rand(3, 3, dtype=F64), DDIM)


def test_a_conditional_exact_model_draws_its_label_from_the_last_uniform():
    """The label is the class-law quantile of the last column (p = ½ each): u < ½ draws class 0 at (−1.5, 0), u ≥ ½
    class 1 at (+1.5, 0); the DDIM grid's exact conditional score puts each half's mean near its class's (within 0.25:
    5·SE of 400 unit-variance rows, plus the grid's small bias)."""
    conditional = ExactScoreDiffusion(two_class())
    assert conditional.sample_uniform_dim(DDIM) == 3
    g = torch.Generator().manual_seed(11)
    u = torch.rand(800, 3, generator=g, dtype=F64, device=g.device)
    u[:400, 2], u[400:, 2] = 0.25, 0.75
    x = conditional.sample_from_uniform(u, DDIM)
    assert x.shape == (800, 2)
    assert float(x[:400, 0].mean()) == pytest.approx(-1.5, abs=0.25) and float(x[400:, 0].mean()) == pytest.approx(1.5, abs=0.25)


# -- refusals ---------------------------------------------------------------------------------------------


def test_mismatched_models_are_refused():
    base, other = _mixtures()
    three = ExactScoreDiffusion(GMM(torch.ones(1, dtype=F64), torch.zeros(1, 3, dtype=F64), torch.eye(3, dtype=F64)[None]))
    linear = ExactScoreDiffusion(other.target, Schedule("linear", 1000))
    shorter = ExactScoreDiffusion(other.target, Schedule("cosine", 500))
    own = ExactScoreDiffusion(other.target, grid="own")
    # one kind and length, other betas: every alpha_bar must agree, not only the schedule's name (the review found this)
    steeper = ExactScoreDiffusion(other.target, Schedule("linear", 1000, beta_end=0.05))
    SelfGuidedDiffusion(linear, ExactScoreDiffusion(base.target, Schedule("linear", 1000)), 1.0)  # the same betas: accepted
    with pytest.raises(ValueError, match="base and other must share"):
        SelfGuidedDiffusion(linear, steeper, 1.0)
    for bad in (three, linear, shorter, own):
        with pytest.raises(ValueError, match="base and other must share"):
            SelfGuidedDiffusion(base, bad, 1.0)
    conditional = ExactScoreDiffusion(two_class())
    with pytest.raises(ValueError, match="other must be unconditional"):
        SelfGuidedDiffusion(base, conditional, 1.0)
    with pytest.raises(ValueError, match="base must be unconditional"):
        SelfGuidedDiffusion(conditional, other, 1.0)
    with pytest.raises(ValueError, match="other must be a DiffusionSampler"):
        SelfGuidedDiffusion(base, other.target, 1.0)
    for omega in (math.inf, math.nan):
        with pytest.raises(ValueError, match="omega"):
            SelfGuidedDiffusion(base, other, omega)
    assert isinstance(SelfGuidedDiffusion(base, other, -1.0), DiffusionSampler)
