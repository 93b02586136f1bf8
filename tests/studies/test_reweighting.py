"""Lemma B.6's reweighting step on diagonal Gaussians (studies/theory/reweighting.py): the closed forms
against Monte Carlo, the premise against its exact characterisation, and the counterexample the
scorecard's ``lemma-b6-step-gaussian`` row names."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from neon_theory.rng import draw, generator
from studies.theory.reweighting import case, covariance, premise_holds, reweighted_mean

F64 = torch.float64
K = 4.0  # Monte Carlo checks pass within K standard errors


def _mc(v_star, v_r, T, n=400_000, seed=11):
    """Monte Carlo of Cov_p*(f(log p_r), B)/E[f] and of E_q[B], from x ~ p* and x ~ q = N(0, T v_r), with SEs."""
    v_star, v_r = torch.tensor(v_star, dtype=F64), torch.tensor(v_r, dtype=F64)
    g = generator(seed, "reweighting-mc")
    beta = (v_r - v_star) / (2 * v_star**2)

    def B(x):
        return (beta * (x**2 - v_star)).sum(1)  # εᵀu_θ*(x), centred under p*

    x = draw(torch.randn, n, len(v_star), generator=g, dtype=F64) * v_star.sqrt()
    f = torch.exp((1 / T - 1) * (-(x**2) / (2 * v_r)).sum(1))  # f(log p_r) up to a constant factor
    b = B(x)
    w = f / f.mean()
    # the ratio E[fB]/E[f] minus E[B]; its SE by the delta method, from w(B - ratio)
    cov, cov_se = float((w * (b - b.mean())).mean()), float((w * b - w * (w * b).mean()).std() / math.sqrt(n))
    xq = draw(torch.randn, n, len(v_star), generator=g, dtype=F64) * (T * v_r).sqrt()
    bq = B(xq)
    return (cov, cov_se), (float(bq.mean()), float(bq.std() / math.sqrt(n)))


@pytest.mark.parametrize("v_star, v_r, T", [((1.0,), (0.8,), 0.7), ((1.5, 0.6), (1.2, 0.75), 0.5), ((0.7, 1.0, 2.0), (0.9, 0.8, 1.7), 0.8),
                                            ((1.0, 1.0), (1.3, 0.9), 1.4)])
def test_the_closed_forms_match_monte_carlo(v_star, v_r, T):
    (cov, cov_se), (mean, mean_se) = _mc(v_star, v_r, T)
    assert abs(covariance(v_star, v_r, T) - cov) < K * cov_se
    assert abs(reweighted_mean(v_star, v_r, T) - mean) < K * mean_se
    assert cov_se < 0.05 * abs(cov) + 1e-3  # the check has power: the SE is small next to the value


def test_the_step_fails_in_two_dimensions_while_the_conclusion_holds():
    # too sharp in both directions, not in the premise's exact proportion: the premise fails, yet the form the
    # proof needs (covariance ≥ 0) and the conclusion (E_q[B] = -εᵀb > 0, s < 0) hold
    c = case((1.0, 1.0), (0.97, 0.99), 0.7)
    assert not c.premise
    assert c.covariance > 0 and c.reweighted_mean > 0 and c.eps_b < 0 and c.s_natural < 0
    # too diffuse on average (one direction too sharp): the covariance and the conclusion flip, and so does s
    c = case((1.0, 1.0), (0.99, 1.03), 0.7)
    assert not c.premise and c.covariance < 0 and c.reweighted_mean < 0 and c.eps_b > 0 and c.s_natural > 0


@settings(max_examples=60, deadline=None)
@given(v_star=st.floats(0.3, 3.0), ratio=st.floats(0.5, 2.0).filter(lambda r: abs(r - 1) > 1e-6), T=st.sampled_from((0.3, 0.7, 0.95, 1.1, 2.0)))
def test_in_one_dimension_the_premise_holds_exactly_when_the_base_errs_the_samplers_way(v_star, ratio, T):
    # T < 1 (f increasing): the premise needs a base too sharp (v_r < v*); T > 1: too diffuse
    assert premise_holds((v_star,), (v_star * ratio,), T) == ((ratio < 1) == (T < 1))


@settings(max_examples=40, deadline=None)
@given(v_star=st.lists(st.floats(0.3, 3.0), min_size=2, max_size=3), lam=st.floats(0.01, 0.2), kick=st.floats(0.02, 0.1))
def test_in_more_dimensions_the_premise_needs_the_errors_in_exact_proportion(v_star, lam, kick):
    # ε_i / v*_i² = -λ / v_r,i solved for v_r: v_r = v*(1 + sqrt(1 - 4λ)) / 2
    v_r = [s * (1 + math.sqrt(1 - 4 * lam)) / 2 for s in v_star]
    assert premise_holds(v_star, v_r, 0.7) and not premise_holds(v_star, v_r, 1.5)
    off = [v_r[0] * (1 + kick), *v_r[1:]]
    assert not premise_holds(v_star, off, 0.7)


def test_a_tilt_past_normalisability_is_refused():
    with pytest.raises(ValueError, match="normalisability"):
        covariance((1.0,), (0.5,), 3.0)  # 1/v* + (1/T - 1)/v_r = 1 - 4/3 < 0
