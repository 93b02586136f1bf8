"""Lemma B.6's reweighting step on diagonal Gaussians (studies/theory/reweighting.py): the closed forms
against Monte Carlo, the premise against its exact characterisation, and the counterexample the
scorecard's ``lemma-b6-step-gaussian`` row names."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from neon_theory.rng import draw, generator
from studies.theory.reweighting import base_mean, case, covariance, premise_holds, reweighted_mean

F64 = torch.float64
K = 4.0  # Monte Carlo checks pass within K standard errors


def _mean_se(x):
    return float(x.mean()), float(x.std() / math.sqrt(len(x)))


def _mc(v_star, v_r, T, n=400_000, seed=11):
    """Monte Carlo, with SEs, of E_q[B] reweighted from x ~ p_r (the ratio E[fB]/E[f], delta-method SE), of E_q[B]
    drawn directly from q = N(0, T v_r), and of E_{p_r}[B]."""
    v_star, v_r = torch.tensor(v_star, dtype=F64), torch.tensor(v_r, dtype=F64)
    g = generator(seed, "reweighting-mc")
    beta = (v_r - v_star) / (2 * v_star**2)

    def B(x):
        return (beta * (x**2 - v_star)).sum(1)  # εᵀu_θ*(x), centred under p*

    x = draw(torch.randn, n, len(v_star), generator=g, dtype=F64) * v_r.sqrt()
    w = torch.exp((1 / T - 1) * (-(x**2) / (2 * v_r)).sum(1))  # f(log p_r), up to a constant factor
    w = w / w.mean()
    b = B(x)
    ratio = float((w * b).mean())
    ratio_se = float((w * (b - ratio)).std() / math.sqrt(n))  # the ratio's influence function w(B - ratio)
    direct = _mean_se(B(draw(torch.randn, n, len(v_star), generator=g, dtype=F64) * (T * v_r).sqrt()))
    return (ratio, ratio_se), direct, _mean_se(b)


@pytest.mark.parametrize("v_star, v_r, T", [((1.0,), (0.8,), 0.7), ((1.5, 0.6), (1.2, 0.5), 0.5), ((0.7, 1.0, 2.0), (0.9, 0.8, 1.7), 0.8),
                                            ((1.0, 1.0), (1.3, 0.9), 1.4)])
def test_the_closed_forms_match_monte_carlo(v_star, v_r, T):
    (ratio, ratio_se), (direct, direct_se), (base, base_se) = _mc(v_star, v_r, T)
    exact = reweighted_mean(v_star, v_r, T)
    assert abs(exact - ratio) < K * ratio_se and abs(exact - direct) < K * direct_se
    assert abs(base_mean(v_star, v_r) - base) < K * base_se
    # the covariance the conclusion needs is E_q[B] - E_{p_r}[B]
    assert covariance(v_star, v_r, T) == pytest.approx(exact - base_mean(v_star, v_r), rel=1e-12)
    for value, se in ((ratio, ratio_se), (direct, direct_se), (base, base_se)):
        assert se < 0.05 * abs(value)  # the check has power: every value is far from 0 in its own SEs


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


def test_unequal_errors_in_the_premise_s_proportion_satisfy_it():
    # parallel means v_r,i/v*_i = a_i with every a_i(1 - a_i) equal: (0.7, 0.3) as well as equal ratios
    assert premise_holds((1.0, 2.0), (0.7, 0.6), 0.7) and not premise_holds((1.0, 2.0), (0.7, 0.62), 0.7)


def test_bad_variances_are_refused():
    with pytest.raises(ValueError, match="positive variances"):
        case((1.0,), (-0.5,), 0.7)
