"""Theorem 1 is a first-order statement: where it holds, where the higher-order terms flip it.

``TheoryQuantities.sufficient_condition_first_order`` (cos φ_K < 0 and ‖ε‖_H below
m η₀ (−cos φ_K) / (M (1+η₁))) implies s₁ < 0 for the Lemma B.3 expansion s₁ of s.  It does
*not* imply s < 0: the dropped remainder s − s₁ = O(η₀‖ε‖²) + O(‖ε‖³) can exceed |s₁|
inside the radius.  The counterexamples below came from a seeded search over the exact
families (Gaussian in log-Cholesky coordinates, D = 1..3, and one categorical token);
see the docstring of :mod:`neon_theory.alignment`.  The paper's condition with the
H_d-geometry angle φ (``sufficient_condition_printed``) fails already at first order
for a non-natural P.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neon_theory.preconditioners import identity
from studies.theory.cases import PLAIN_GRADIENT_DIR, categorical_case, gaussian_case, random_case

# ---- the sufficient condition holds, s₁ < 0, yet the exact s > 0 ----------------------------


def test_gaussian_natural_gradient_counterexample_beyond_first_order():
    """‖ε‖_H = 0.137 at 0.90 of the radius 0.153 (η₀ = 4.15, η₁ = 5.19): s₁ = −0.037 ≤ bound = −0.013, s = +0.033."""
    th, s = gaussian_case(0.1)
    assert th.eps_norm_H == pytest.approx(0.1370, rel=0, abs=1e-4)
    assert th.m == pytest.approx(1, rel=0, abs=1e-10) and th.M == pytest.approx(1, rel=0, abs=1e-10)
    assert th.sufficient_condition_first_order and th.sufficient_condition_printed  # K = I: they agree
    assert th.eps_norm_H / th.sufficient_radius_first_order == pytest.approx(0.897, rel=0, abs=1e-3)
    assert th.s_first_order == pytest.approx(-0.0374, rel=0, abs=1e-4)
    assert th.s_first_order <= th.bound_corrected_first_order < 0  # the first-order theorem is right
    assert s == pytest.approx(0.0335, rel=0, abs=1e-4)  # the higher-order terms flip the sign
    assert s > 0


def test_categorical_sharpening_counterexample_beyond_first_order():
    """‖ε‖_H = 0.069 at 0.68 of the radius (η₀ = 0.58, η₁ = 0): s₁ = bound = −2.25e-3, s = +0.53e-3."""
    th, s = categorical_case(1.0)
    assert th.m == pytest.approx(1, rel=0, abs=1e-10) and th.M == pytest.approx(1, rel=0, abs=1e-10)
    assert th.eta1 == pytest.approx(0, rel=0, abs=1e-12)
    assert th.sufficient_condition_first_order and th.sufficient_condition_printed
    assert th.eps_norm_H == pytest.approx(0.0685, rel=0, abs=1e-4)
    assert th.eps_norm_H / th.sufficient_radius_first_order == pytest.approx(0.676, rel=0, abs=1e-3)
    assert th.s_first_order == pytest.approx(-2.250e-3, rel=0, abs=1e-6)
    assert th.s_first_order <= th.bound_corrected_first_order + 1e-12  # here with equality (K = I, Δ = 0)
    assert s == pytest.approx(0.527e-3, rel=0, abs=1e-6)
    assert s > 0


@pytest.mark.parametrize("family", ["gaussian", "categorical"])
def test_first_order_claim_holds_as_eps_shrinks_along_the_counterexample(family):
    """Scale ε → 0 along the counterexample: s − s₁ = O(‖ε‖²_H) while s₁ = Θ(‖ε‖_H), so the
    relative error vanishes and s < 0 once ‖ε‖ is small enough; the flip is higher order."""
    case = gaussian_case if family == "gaussian" else categorical_case
    c0 = 0.1 if family == "gaussian" else 1.0
    rows = [case(c0 * 2.0**-k) for k in range(8)]
    assert rows[0][1] > 0  # the counterexample at k = 0
    assert all(th.sufficient_condition_first_order for th, _ in rows)
    rel = [abs(s - th.s_first_order) / abs(th.s_first_order) for th, s in rows]
    quad = [(s - th.s_first_order) / th.eps_norm_H**2 for th, s in rows]
    assert rel[-1] < 0.02 and all(b < a for a, b in zip(rel[3:], rel[4:]))
    assert all(0.4 < b / a < 0.6 for a, b in zip(rel[4:], rel[5:]))  # first order: halves with ‖ε‖
    assert abs(quad[-1] - quad[-2]) < 0.05 * abs(quad[-1])  # (s − s₁)/‖ε‖²_H tends to a constant
    assert all(s < 0 for _, s in rows[3:])


# ---- the paper's condition (H_d-geometry angle) fails already at first order for P ≠ H_d⁻¹ ----


@pytest.mark.parametrize("c", [1e-3, 1e-4])
def test_printed_sufficient_condition_fails_at_first_order_for_plain_gradient(c):
    """P = I, a sharpening sampler: cos φ < 0 but cos φ_K > 0, so ⟨H_d ε, P b⟩ > 0 and s₁ > 0.

    ‖ε‖_H is 0.16 (c = 1e-3) or 0.016 (c = 1e-4) of the printed radius: the failure persists
    as ε → 0 and s ≈ s₁ there; the first-order condition (φ_K) correctly does not hold.
    """
    th, s = gaussian_case(c, PLAIN_GRADIENT_DIR, T=0.5, P=identity())
    assert th.sufficient_condition_printed and not th.sufficient_condition_first_order
    assert th.cos_phi < -0.15 and th.cos_phi_K > 0.15
    assert th.eps_norm_H < 0.2 * th.sufficient_radius_printed
    assert th.s_first_order > 0 and s > 0
    assert s == pytest.approx(th.s_first_order, rel=5e-3 if c == 1e-3 else 5e-4, abs=0)


# ---- the first-order statement itself ---------------------------------------------------------


@settings(max_examples=15)  # each example is three exact Gaussian evaluations; 15 keep CI short
@given(seed=st.integers(0, 10_000), d=st.integers(1, 3), logT=st.floats(-1.5, 1.5), natural=st.booleans(), frac=st.floats(0.01, 0.99))
def test_first_order_sufficient_condition_implies_negative_first_order_s(seed, d, logT, natural, frac):
    """θ_r on a random direction at a fraction of the first-order radius (measured at tiny ε):
    whenever ``sufficient_condition_first_order`` holds, s₁ ≤ bound < 0 (s itself may be ≥ 0)."""
    th, _ = random_case(seed, d, logT, natural, frac)
    assert th.s_first_order <= th.bound_corrected_first_order + 1e-12
    if th.sufficient_condition_first_order:
        assert th.bound_corrected_first_order < 0 and th.s_first_order < 0
