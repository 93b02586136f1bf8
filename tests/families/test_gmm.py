import math

import pytest
import torch
from helpers import F64
from hypothesis import given
from hypothesis import strategies as st

from neon_theory.rng import draw, generator
from toy_models.gmm import GMM, official_gaussian, ring, two_class

K_SE = 6


def numeric_score(gmm: GMM, x: torch.Tensor, h: float = 1e-5) -> torch.Tensor:
    """Central finite differences of log p: an independent check of the analytic score."""
    out = torch.zeros_like(x)
    for j in range(x.shape[1]):
        e = torch.zeros(x.shape[1], dtype=F64)
        e[j] = h
        out[:, j] = (gmm.log_prob(x + e) - gmm.log_prob(x - e)) / (2 * h)
    return out


@pytest.mark.parametrize("make", [official_gaussian, ring, two_class])
def test_score_matches_finite_differences_of_log_prob(make):
    gmm = make()
    x = gmm.sample(50, generator(0, "x")) + 0.5
    assert torch.allclose(gmm.score(x), numeric_score(gmm, x), rtol=0, atol=1e-6)  # central differences: O(h²)


def test_log_prob_integrates_to_one_in_one_dimension():
    gmm = GMM(torch.tensor([0.3, 0.7]), torch.tensor([[-1.0], [2.0]]), torch.tensor([[[0.25]], [[1.0]]]))
    grid = torch.linspace(-12, 14, 20001, dtype=F64)[:, None]
    mass = torch.trapezoid(torch.exp(gmm.log_prob(grid)), grid[:, 0])
    assert float(mass) == pytest.approx(1.0, rel=0, abs=1e-8)  # trapezoid rule on a fine grid


@pytest.mark.parametrize("make", [official_gaussian, ring, two_class])
def test_sample_moments_within_k_se(make):
    gmm = make()
    n = 100_000
    x = gmm.sample(n, generator(1, "s"))
    cov = gmm.cov()
    se = torch.sqrt(torch.diagonal(cov) / n)
    assert bool(((x.mean(0) - gmm.mean()).abs() <= K_SE * se).all())


@given(st.floats(0.01, 1.0), st.floats(0.0, 3.0))
def test_noised_laws_have_the_right_moments(alpha_bar, sigma):
    gmm = two_class()
    vp, ve = gmm.noised_vp(alpha_bar), gmm.noised_ve(sigma)
    eye = torch.eye(2, dtype=F64)
    assert torch.allclose(vp.mean(), math.sqrt(alpha_bar) * gmm.mean(), rtol=0, atol=1e-12)
    assert torch.allclose(vp.cov(), alpha_bar * gmm.cov() + (1 - alpha_bar) * eye, rtol=0, atol=1e-10)
    assert torch.allclose(ve.cov(), gmm.cov() + sigma**2 * eye, rtol=0, atol=1e-10)


def test_noised_law_matches_noising_samples_within_k_se():
    gmm = ring()
    n = 100_000
    x0 = gmm.sample(n, generator(2, "x"))
    a = 0.3
    xt = math.sqrt(a) * x0 + math.sqrt(1 - a) * draw(torch.randn, n, 2, generator=generator(2, "e"), dtype=F64)
    law = gmm.noised_vp(a)
    # E[log p_t(x_t)] under the samples vs the exact cross-entropy is not closed form; compare second moments
    second = (xt**2).mean(0)
    expected = torch.diagonal(law.cov()) + law.mean() ** 2
    se = (xt**2).std(0) / math.sqrt(n)
    assert bool(((second - expected).abs() <= K_SE * se).all())


def test_conditioning_and_labels():
    gmm = two_class()
    assert gmm.num_classes == 2
    assert torch.allclose(gmm.class_probs(), torch.tensor([0.5, 0.5], dtype=F64), rtol=0, atol=1e-15)
    c1 = gmm.condition(1)
    assert torch.allclose(c1.mean(), torch.tensor([1.5, 0.0], dtype=F64), rtol=0, atol=1e-15)
    x, labels = gmm.sample_with_labels(1000, generator(0))
    assert set(labels.tolist()) == {0, 1}
    # Bayes: p(x) = Σ_c p(c) p(x|c)
    mix = torch.logsumexp(torch.stack([gmm.condition(c).log_prob(x) + math.log(0.5) for c in (0, 1)]), 0)
    assert torch.allclose(mix, gmm.log_prob(x), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: GMM(torch.tensor([0.5, 0.6]), torch.zeros(2, 2), torch.eye(2).expand(2, 2, 2)), "weights"),
        (lambda: GMM(torch.ones(1), torch.zeros(1, 2), -torch.eye(2)[None]), "covs"),
        (lambda: GMM(torch.ones(1), torch.zeros(1, 2), torch.eye(3)[None]), "covs"),
        (lambda: official_gaussian().noised_vp(0.0), "alpha_bar"),
        (lambda: official_gaussian().noised_ve(-1.0), "sigma"),
        (lambda: official_gaussian().condition(0), "labels"),
        (lambda: two_class().condition(2), "label"),
        (lambda: ring(k=0), "k"),
        (lambda: ring(std=0.0), "std"),
        (lambda: official_gaussian().sample(0, generator(0)), "n"),
    ],
)
def test_gmm_validates(call, match):
    with pytest.raises(ValueError, match=match):
        call()
