"""Scope of the smoothing finding on a single categorical law (issue 9, item 9).

The closed form behind :func:`toy_models.categorical.categorical_sign_rates` is checked
against the generic engine (autograd gradients, exact Hessian inverse, ``alignment``), and
against a sign law derived independently:

    uniform data law, natural P  ⇒  s = (1/V)(Σ_x q(x)/p_r(x) − V),  q ∝ p_r^{1/T},

and Σ_x p_r^β / Σ_x p_r^{1+β} ≤ V for β = 1/T − 1 > 0 (Chebyshev's sum inequality: p_r^β
and p_r are similarly ordered), so s ≤ 0 for every T < 1 and every base, s ≥ 0 for T > 1.
No smoothing can flip the sign there.
"""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from neon_theory.alignment import alignment
from neon_theory.gradients import population_gradient, population_hessian
from neon_theory.preconditioners import exact_inverse, identity
from neon_theory.rng import generator
from neon_theory.samplers import Chain, Temperature, TopK
from toy_models.categorical import (
    CategoricalModel,
    CategoricalTarget,
    categorical_sign_rates,
    exact_categorical_s,
    smoothed_mle,
)

F64 = torch.float64

probs_strategy = st.lists(st.floats(0.02, 1.0), min_size=2, max_size=7).map(lambda w: torch.tensor(w, dtype=F64) / sum(w))
temperature_strategy = st.floats(0.3, 3.0)


def engine_s(p_data, p_base, sampler, preconditioner):
    model = CategoricalModel(p_base)
    r_d = population_gradient(model, CategoricalTarget(p_data).support())
    r_s = population_gradient(model, model.support(sampler))
    P = exact_inverse(population_hessian(model, model.support())) if preconditioner == "natural" else identity()
    rep = alignment(r_d, r_s, P)
    return rep.s, rep.cosine


@settings(max_examples=25)
@given(probs_strategy, probs_strategy, temperature_strategy, st.sampled_from(["natural", "identity"]))
def test_closed_form_matches_the_engine(p_data, p_base, T, preconditioner):
    V = min(p_data.shape[0], p_base.shape[0])
    p_data, p_base = p_data[:V] / p_data[:V].sum(), p_base[:V] / p_base[:V].sum()
    for sampler in (Temperature(T), Chain((Temperature(T), TopK(max(V - 1, 1))))):
        s, cos = exact_categorical_s(p_data, p_base, sampler, preconditioner)
        s_ref, cos_ref = engine_s(p_data, p_base, sampler, preconditioner)
        assert float(s) == pytest.approx(s_ref, rel=1e-8, abs=1e-13)
        if math.isfinite(float(cos)) and s_ref != 0:
            assert float(cos) == pytest.approx(cos_ref, rel=1e-8, abs=1e-10)


@given(probs_strategy, temperature_strategy)
def test_uniform_data_law_sign_law(p_base, T):
    """s ≤ 0 for T < 1 and s ≥ 0 for T > 1 under natural P, whatever the base (module docstring)."""
    V = p_base.shape[0]
    u = torch.full((V,), 1.0 / V, dtype=F64)
    s, _ = exact_categorical_s(u, p_base, Temperature(T), "natural")
    q = p_base ** (1 / T) / (p_base ** (1 / T)).sum()
    assert float(s) == pytest.approx(float((q / p_base).sum() - V) / V, rel=0, abs=1e-12)  # the closed form above
    assert float(s) * (1 - T) <= 1e-14


def test_sign_rates_uniform_law_never_flip_with_smoothing():
    u = torch.full((5,), 0.2, dtype=F64)
    df = categorical_sign_rates(u, [30, 300], [0.01, 0.5, 5.0], [0.7, 1.4], seeds=50, preconditioners="natural")
    assert (df[df.temperature == 0.7].frac_pos == 0).all()
    assert (df[df.temperature == 1.4].frac_pos == 1).all()
    assert (df.seeds == 50).all() and len(df) == 2 * 3 * 2


def test_sign_rates_row_equals_the_engine_on_the_fitted_base():
    """One seed: the table's s is the engine's s at the add-α MLE of the seed's 'real' stream."""
    p = torch.tensor([0.5, 0.25, 0.15, 0.1], dtype=F64)
    df = categorical_sign_rates(p, 40, 0.5, 0.7, seeds=[7], preconditioners=("natural", "identity"))
    counts = torch.bincount(CategoricalTarget(p).sample(40, generator(7, "real")), minlength=4)
    p_r = smoothed_mle(counts, 0.5)
    torch.testing.assert_close(p_r, (counts.double() + 0.5) / 42, rtol=0, atol=1e-15)
    for row in df.itertuples():
        s_ref, cos_ref = engine_s(p, p_r, Temperature(0.7), row.preconditioner)
        assert row.mean_s == pytest.approx(s_ref, rel=1e-8, abs=0)
        assert row.mean_cos == pytest.approx(cos_ref, rel=1e-8, abs=0)
        assert row.frac_pos == float(s_ref > 0) and row.frac_pos_se == 0


def test_heavier_smoothing_turns_a_sharpening_sampler_aligned_on_a_zipf_law():
    """The direction of the token finding holds on one categorical law (V = 10, Zipf(1), n = 50)."""
    p = 1.0 / torch.arange(1, 11, dtype=F64)
    df = categorical_sign_rates(p / p.sum(), 50, [0.01, 2.0], [0.7, 1.4], seeds=200, preconditioners="natural")
    rate = {(r.smoothing, r.temperature): r.frac_pos for r in df.itertuples()}
    assert rate[(2.0, 0.7)] - rate[(0.01, 0.7)] > 0.5  # measured 0.10 → 0.85 over 1000 seeds
    assert rate[(0.01, 1.4)] - rate[(2.0, 1.4)] > 0.5  # and the mirror image for T > 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n": 0}, "n must"),
        ({"smoothing": 0.0}, "smoothing must"),
        ({"temperatures": []}, "temperatures must not be empty"),
        ({"seeds": 0}, "seeds must"),
        ({"seeds": [-1]}, "seeds must"),
        ({"preconditioners": "adam"}, "preconditioner must"),
        ({"probs": torch.tensor([0.5, 0.6], dtype=F64)}, "probs must"),
    ],
)
def test_sign_rates_validate_inputs(kwargs, match):
    args = {"probs": torch.tensor([0.5, 0.5], dtype=F64), "n": 10, "smoothing": 0.5, "temperatures": 0.7, "seeds": 3}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        categorical_sign_rates(**args)


def test_exact_s_validates_inputs():
    p = torch.tensor([0.5, 0.5], dtype=F64)
    with pytest.raises(ValueError, match="vocabulary size"):
        exact_categorical_s(p, torch.tensor([0.2, 0.3, 0.5], dtype=F64))
    with pytest.raises(ValueError, match="p_base must be positive"):
        exact_categorical_s(p, torch.tensor([1.0, 0.0], dtype=F64))
    with pytest.raises(ValueError, match="preconditioner must"):
        exact_categorical_s(p, p, None, "adam")
    with pytest.raises(ValueError, match="smoothing must"):
        smoothed_mle(torch.tensor([3, 0]), -1.0)
