"""The warm-up Monte Carlo against brute force (per draw) and against quadrature (the D = 1 rate)."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from neon_theory.metrics import gaussian_cross_entropy
from neon_theory.rng import draw
from toy_models.warmup import warmup_loss_change


@settings(max_examples=25, deadline=None)
@given(dim=st.integers(1, 4), extra=st.integers(1, 20), a=st.floats(0.0, 1.0), seed=st.integers(0, 2**31))
def test_each_draw_matches_the_closed_form_population_nll(dim, extra, a, seed):
    n = dim + extra
    delta = warmup_loss_change(dim, n, [a], 3, torch.Generator().manual_seed(seed))[:, 0]
    x = draw(torch.randn, 3, n, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    zero, eye = torch.zeros(dim, dtype=torch.float64), torch.eye(dim, dtype=torch.float64)
    for i in range(3):
        mu = x[i].mean(0)
        cov = (x[i] - mu).T @ (x[i] - mu) / n
        brute = gaussian_cross_entropy(zero, eye, mu, cov + a * torch.linalg.inv(cov)) - gaussian_cross_entropy(zero, eye, mu, cov)
        assert float(delta[i]) == pytest.approx(brute, rel=1e-8, abs=1e-10)


def _rate_d1(n: int, a: float) -> float:
    """P(ΔL < 0) in D = 1 by quadrature: nλ ~ χ²_{n−1} and μ̂ ~ N(0, 1/n) are independent, and
    ΔL < 0 iff μ̂² > c(λ) = log(1 + a/λ²) / (1/λ − λ/(λ² + a)) − 1."""

    def given_lambda(u):
        lam = u / n
        c = math.log1p(a / lam**2) / (1 / lam - lam / (lam**2 + a)) - 1
        p = 1.0 if c <= 0 else 2 * stats.norm.sf(math.sqrt(c * n))
        return p * stats.chi2.pdf(u, n - 1)

    return integrate.quad(given_lambda, 0, math.inf, limit=200)[0]


@pytest.mark.parametrize("n, a", [(5, 0.05), (20, 0.02), (50, 0.2)])
def test_the_d1_improvement_rate_agrees_with_quadrature_within_6_se(n, a):
    draws = 40_000
    delta = warmup_loss_change(1, n, [a], draws, torch.Generator().manual_seed(n))[:, 0]
    rate = float((delta < 0).double().mean())
    truth = _rate_d1(n, a)
    se = math.sqrt(truth * (1 - truth) / draws)
    assert abs(rate - truth) <= 6 * se


@pytest.mark.parametrize("kwargs, match", [(dict(dim=0), "dim"), (dict(n=2), "n"), (dict(draws=0), "draws"), (dict(a_values=[-10.0]), "too negative")])
def test_invalid_warmup_settings_raise(kwargs, match):
    args = dict(dim=2, n=10, a_values=[0.1], draws=5, generator=torch.Generator().manual_seed(0)) | kwargs
    with pytest.raises(ValueError, match=match):
        warmup_loss_change(**args)


@settings(max_examples=15, deadline=None)
@given(dim=st.integers(1, 4), extra=st.integers(6, 30), seed=st.integers(0, 2**31))
def test_each_draws_first_order_change_is_the_derivative_of_its_loss_change(dim, extra, seed):
    """Column 1 of warmup_first_order against a central difference of the exact ΔL of the same draws;
    column 0 against -tr(∇_Σ L_pop)/D by autograd of the population cross-entropy."""
    from toy_models.warmup import warmup_first_order

    n, h = 2 * dim + extra, 1e-7  # n ≥ 2D + 6: no near-singular Σ̂, whose curvature in a would swamp a forward difference
    first = warmup_first_order(dim, n, 3, torch.Generator().manual_seed(seed))
    delta = warmup_loss_change(dim, n, [h], 3, torch.Generator().manual_seed(seed))[:, 0]  # the same draws, in the same order
    assert first[:, 1].tolist() == pytest.approx((delta / h).tolist(), rel=1e-3)
    x = draw(torch.randn, 3, n, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    zero, eye = torch.zeros(dim, dtype=torch.float64), torch.eye(dim, dtype=torch.float64)

    def population_nll(mu, cov):  # E_{N(0, I)}[-log N(x; mu, cov)], written out for autograd
        return 0.5 * (torch.trace(torch.linalg.solve(cov, eye + torch.outer(mu, mu))) + torch.logdet(cov) + dim * math.log(2 * math.pi))

    for i in range(3):
        mu = x[i].mean(0)
        cov = ((x[i] - mu).T @ (x[i] - mu) / n).requires_grad_(True)
        loss = population_nll(mu, cov)
        assert float(loss) == pytest.approx(gaussian_cross_entropy(zero, eye, mu, cov.detach()), rel=1e-10)
        (grad,) = torch.autograd.grad(loss, cov)
        assert float(first[i, 0]) == pytest.approx(-float(torch.trace(grad)) / dim, rel=1e-8, abs=1e-10)


def test_the_expected_first_order_change_is_not_the_product_of_the_expectations():
    """``warmup-closed-form`` (refuted): at D = 4, n = 30, γ by Monte Carlo agrees with its closed form
    (0.361) and so does the product of the expectations taken from independent draws (-1.81), but the
    expected first-order change itself is about 1.9x the product (-3.4): G and Σ̂⁻¹ are dependent.
    Tolerances: 4 SE (seeded, 20,000 draws)."""
    from studies.warmup.cells import _gamma
    from toy_models.warmup import warmup_first_order

    dim, n, draws = 4, 30, 20_000
    first = warmup_first_order(dim, n, draws, torch.Generator().manual_seed(2026))
    mean, se = first.mean(0), first.std(0) / math.sqrt(draws)
    gamma = _gamma(n, dim)
    product = -gamma * n * dim / (n - dim - 2)
    assert abs(float(mean[0]) - gamma) < 4 * float(se[0])
    assert abs(float(mean[2]) - product) < 4 * float(se[2])
    assert float(mean[1]) - product < -8 * float(se[1])  # far below the product: a larger expected improvement
    assert 1.6 < float(mean[1]) / product < 2.3
