import math

import pytest
import torch
from helpers import F64, random_spd
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from neon_theory.alignment import alignment
from neon_theory.gradients import GradientEstimate, ModelLaw, paired_population_gradients
from neon_theory.preconditioners import Dense, Diagonal, identity
from neon_theory.rng import generator
from neon_theory.samplers import Temperature
from toy_models.categorical import CategoricalModel, CategoricalTarget

vectors = st.lists(st.floats(-10, 10), min_size=3, max_size=3).map(lambda v: torch.tensor(v, dtype=F64))


@given(vectors, vectors, st.integers(0, 1000), st.floats(1e-3, 1e3))
def test_p_cosine_is_bounded_and_invariant_to_scaling_P(a, b, seed, c):
    if float(a.norm()) < 1e-3 or float(b.norm()) < 1e-3:
        return
    P = Dense(random_spd(3, generator(seed)))
    r1 = alignment(a, b, P)
    r2 = alignment(a, b, P.scaled(c))
    # the P-cosine by hand: aᵀMb / (√(aᵀMa) √(bᵀMb)); Cauchy–Schwarz puts it in [−1, 1]
    M = P.matrix()
    by_hand = float(a @ M @ b) / math.sqrt(float(a @ M @ a) * float(b @ M @ b))
    assert r1.cosine == pytest.approx(by_hand, rel=0, abs=1e-12)
    assert r2.cosine == pytest.approx(r1.cosine, rel=0, abs=1e-9)
    assert r2.s == pytest.approx(c * r1.s, rel=1e-9, abs=1e-12)
    assert r1.s == pytest.approx(float(a @ P.matrix() @ b), rel=1e-12, abs=1e-12)


def test_exact_inputs_have_zero_error_bars_and_closed_form_w_star():
    rd = torch.tensor([1.0, -1.0], dtype=F64)
    rs = torch.tensor([-2.0, 0.5], dtype=F64)
    H = torch.tensor([[2.0, 0.3], [0.3, 1.0]], dtype=F64)
    P = Diagonal(torch.tensor([0.5, 2.0], dtype=F64))
    rep = alignment(rd, rs, P, alpha=0.1, hessian=H)
    s = float(rd @ (P.diag * rs))
    u = P.diag * rs
    # exact inputs: float64 arithmetic on O(1) numbers, equal to a few ulps
    assert rep.s == pytest.approx(s, rel=1e-14, abs=1e-15) and rep.s_se == 0 and rep.exact
    assert rep.z == pytest.approx(float(u @ H @ u), rel=1e-14, abs=1e-15)
    assert rep.w_star == pytest.approx(-s / (0.1 * float(u @ H @ u)), rel=1e-14, abs=1e-15)
    rep_fn = alignment(rd, rs, P, alpha=0.1, hessian=lambda v: H @ v)
    assert rep_fn.w_star == pytest.approx(rep.w_star, rel=1e-14, abs=1e-15)
    assert rep.to_dict()["verdict"] == rep.verdict == "anti-aligned"
    assert '"s"' in rep.to_json()


def test_zero_synthetic_gradient_gives_undefined_cosine_and_w_star():
    rep = alignment(torch.tensor([1.0, 2.0]), torch.zeros(2), identity(), alpha=0.1, hessian=torch.eye(2))
    assert rep.cosine == 0 and rep.w_star is None and rep.notes


def test_jackknife_removes_the_common_random_number_bias_of_the_plugin():
    """Real and synthetic laws identical ⇒ s = ‖r‖² exactly; CRN makes the plug-in biased up by tr(Cov)/n.

    Over 40 replications, the plug-in's mean error is many SEs above 0 while the jackknife's is not.
    """
    p = torch.tensor([0.25, 0.25, 0.25, 0.25], dtype=F64)
    model = CategoricalModel(p)  # the model equals the data law: r_d = r_s = 0, s = 0
    errs_plugin, errs_jack = [], []
    for rep in range(40):
        x = CategoricalTarget(p).sample(400, generator(rep, "x"))
        est = paired_population_gradients(model, {"d": x, "s": x}, n_batches=10)  # maximal correlation
        r = alignment(est["d"], est["s"], identity())
        errs_plugin.append(r.s_plugin)
        errs_jack.append(r.s)
    plug, jack = torch.tensor(errs_plugin), torch.tensor(errs_jack)
    se = lambda t: float(t.std() / math.sqrt(len(t)))  # noqa: E731
    assert float(plug.mean()) > 6 * se(plug)  # biased: E = tr(Cov)/n > 0
    assert abs(float(jack.mean())) < 4 * se(jack)  # unbiased (U-statistic)


def test_estimated_alignment_covers_the_exact_value():
    target = CategoricalTarget(torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=F64))
    model = CategoricalModel(torch.tensor([0.2, 0.2, 0.3, 0.3], dtype=F64))
    sampler = Temperature(0.6)
    P = Diagonal(torch.tensor([1.0, 2.0, 0.5], dtype=F64))
    from neon_theory.gradients import population_gradient

    exact = alignment(population_gradient(model, target.support()), population_gradient(model, model.support(sampler)), P)
    est = paired_population_gradients(
        model, {"d": target, "s": ModelLaw(model, sampler)}, 40_000, generator=generator(3, "a"), n_batches=40
    )
    rep = alignment(est["d"], est["s"], P)
    assert abs(rep.s - exact.s) <= 6 * rep.s_se
    assert abs(rep.cosine - exact.cosine) <= 6 * rep.cosine_se
    # the interval is s ± t_{0.975, 39} · SE (40 batches), and a 99% interval is wider by t_{0.995}/t_{0.975}
    q = stats.t.ppf(0.975, 39)
    assert rep.s_ci == pytest.approx((rep.s - q * rep.s_se, rep.s + q * rep.s_se), rel=1e-12, abs=0)
    wide = alignment(est["d"], est["s"], P, level=0.99)
    q99 = stats.t.ppf(0.995, 39)
    assert wide.s_ci == pytest.approx((rep.s - q99 * rep.s_se, rep.s + q99 * rep.s_se), rel=1e-12, abs=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(P="identity"), "Preconditioner"),
        (dict(level=1.0), "level"),
        (dict(alpha=0.0), "alpha"),
        (dict(alpha=math.nan), "alpha"),
        (dict(hessian="H"), "hessian"),
        (dict(hessian=torch.eye(3)), "hessian"),
    ],
)
def test_alignment_validates_inputs(kwargs, match):
    args = dict(r_d=torch.ones(2), r_s=torch.ones(2), P=identity())
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        alignment(**args)


def test_mismatched_batches_are_rejected():
    a = GradientEstimate(torch.ones(2), torch.ones(2), torch.ones(4, 2), torch.full((4,), 0.25), 100)
    b = GradientEstimate(torch.ones(2), torch.ones(2), torch.ones(5, 2), torch.full((5,), 0.2), 100)
    with pytest.raises(ValueError, match="n_batches"):
        alignment(a, b, identity())
    with pytest.raises(ValueError, match="shape"):
        alignment(torch.ones(2), torch.ones(3), identity())
