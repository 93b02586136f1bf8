"""The claims' pass rules and the verdict logic, against independent computations and by coverage."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import binomtest

from neon_theory.rng import draw, generator
from neon_theory.run.claims import (
    CONDITIONAL,
    FAIL,
    HOLDS,
    INCONCLUSIVE,
    PASS,
    REFUTED,
    UNDECIDED,
    AgreesWith,
    Claim,
    Evidence,
    Judgement,
    MeanIn,
    SDOverSE,
    SignCount,
    SlopeIn,
    Universal,
    clopper_pearson,
    register_claim,
    verdict,
)


@given(n=st.integers(1, 200), data=st.data())
def test_the_clopper_pearson_interval_is_scipys_exact_binomial_interval(n, data):
    k = data.draw(st.integers(0, n))
    lo, hi = clopper_pearson(k, n)
    ref = binomtest(k, n).proportion_ci(0.95, method="exact")
    assert lo == pytest.approx(ref.low, abs=1e-9) and hi == pytest.approx(ref.high, abs=1e-9)
    assert lo <= k / n <= hi


@given(n=st.integers(1, 60), at_least=st.floats(0.05, 0.95), data=st.data())
def test_a_sign_count_passes_fails_or_waits_by_where_its_interval_lies(n, at_least, data):
    k = data.draw(st.integers(0, n))
    j = SignCount(at_least).judge([True] * k + [False] * (n - k))
    lo, hi = clopper_pearson(k, n)
    assert j.outcome == (PASS if lo >= at_least else FAIL if hi < at_least else UNDECIDED)
    if k < n:  # one more hit never makes it worse
        better = SignCount(at_least).judge([True] * (k + 1) + [False] * (n - k - 1))
        order = {FAIL: 0, UNDECIDED: 1, PASS: 2}
        assert order[better.outcome] >= order[j.outcome]


def test_thirty_of_thirty_passes_a_bar_of_0_8_and_two_of_two_does_not():
    assert SignCount(0.8).judge([True] * 30).outcome == PASS  # lower bound 0.884
    assert SignCount(0.8).judge([True] * 2).outcome == UNDECIDED  # lower bound 0.158
    assert SignCount(0.8).judge([False] * 10).outcome == FAIL


def test_a_universal_statement_is_refuted_by_one_counterexample():
    assert Universal().judge([True] * 5).outcome == PASS
    j = Universal().judge([True] * 4 + [False])
    assert j.outcome == FAIL and j.estimate == pytest.approx(0.8)
    assert Universal().judge([]).outcome == UNDECIDED


@given(values=st.lists(st.floats(-100, 100), min_size=2, max_size=40).filter(lambda v: np.std(v) > 1e-6))
def test_the_mean_interval_is_scipys_one_sample_t_interval(values):
    from scipy.stats import ttest_1samp

    j = MeanIn(-1e9, 1e9).judge(values)
    ref = ttest_1samp(values, 0.0).confidence_interval(0.95)
    assert j.estimate == pytest.approx(np.mean(values), abs=1e-9)
    assert j.low == pytest.approx(ref.low, rel=1e-9, abs=1e-9) and j.high == pytest.approx(ref.high, rel=1e-9, abs=1e-9)


@given(n=st.integers(3, 30), seed=st.integers(0, 10_000))
def test_the_slope_interval_is_the_least_squares_slope_with_scipys_standard_error(n, seed):
    from scipy.stats import linregress, t

    rng = np.random.default_rng(seed)
    x, y = np.arange(float(n)), rng.normal(size=n)
    j = SlopeIn(-1e9, 1e9).judge(x, y)
    fit = linregress(x, y)
    half = t.ppf(0.975, n - 2) * fit.stderr
    assert j.estimate == pytest.approx(fit.slope, abs=1e-9)
    assert j.low == pytest.approx(fit.slope - half, abs=1e-9) and j.high == pytest.approx(fit.slope + half, abs=1e-9)


@pytest.mark.parametrize("rule, data", [
    (MeanIn(-1.0, 1.0), "mean"),
    (SlopeIn(-3.0, 3.0), "slope"),
])
def test_the_95_percent_intervals_cover_the_truth_95_percent_of_the_time(rule, data):
    """1,000 seeded datasets of 8 units; coverage's SE is 0.0069, the band [0.93, 0.97] is 3 SE."""
    g = generator(0, f"claims-coverage/{data}")
    cover = 0
    for _ in range(1000):
        e = draw_normal(g, 8)
        if data == "mean":
            j = rule.judge(list(0.3 + 2.0 * e))
            truth = 0.3
        else:
            x = np.arange(8.0)
            j = rule.judge(x, -0.7 * x + 1.5 * e)
            truth = -0.7
        cover += j.low <= truth <= j.high
    assert 0.93 <= cover / 1000 <= 0.97, cover


def draw_normal(g, n):
    import torch

    return draw(torch.randn, n, generator=g, dtype=torch.float64).cpu().numpy()


def test_mean_in_and_slope_in_pass_fail_and_wait():
    assert MeanIn(-1.25, -0.75).judge([-1.0, -1.01, -0.99, -1.0]).outcome == PASS
    assert MeanIn(-1.25, -0.75).judge([0.0, 0.01, -0.01, 0.0]).outcome == FAIL
    assert MeanIn(-1.25, -0.75).judge([-1.0, 0.0]).outcome == UNDECIDED
    assert MeanIn(-1.25, -0.75).judge([-1.0]).outcome == UNDECIDED
    x = np.arange(10.0)
    assert SlopeIn(-1.1, -0.9).judge(x, -x).outcome == PASS
    assert SlopeIn(-1.1, -0.9).judge(x, 0 * x + 1).outcome == FAIL


def test_the_sd_over_se_interval_covers_the_true_ratio_95_percent_of_the_time():
    """1,000 seeded studies of 200 repeats: Gaussian estimates (SD 2) with SEs from 3 batches (2·√(χ²₂/2)), so
    noisy that the interval must carry the mean SE's own error too (without it, coverage falls to about 0.89);
    the true ratio is SD / E[SE] = 1/c₄(3).  Coverage's SE is 0.0069; the band [0.93, 0.97] is 3 SE."""
    from scipy.special import gammaln

    c4 = math.sqrt(2 / 2) * math.exp(gammaln(1.5) - gammaln(1.0))
    g = generator(0, "claims-coverage/sd-over-se")
    cover = 0
    for _ in range(1000):
        x = 2.0 * draw_normal(g, 200)
        se = 2.0 * np.sqrt((draw_normal(g, 200 * 2).reshape(200, 2) ** 2).mean(axis=1))
        j = SDOverSE().judge(x, se)
        cover += j.low <= 1 / c4 <= j.high
    assert 0.93 <= cover / 1000 <= 0.97, cover


def test_sd_over_se_passes_an_honest_se_fails_a_wrong_one_and_names_its_band():
    rng = np.random.default_rng(7)
    x = rng.normal(0, 1.0, 2000)
    assert SDOverSE().judge(x, np.ones(2000)).outcome == PASS
    assert SDOverSE().judge(x, np.full(2000, 0.5)).outcome == FAIL  # SE halved: ratio 2
    assert SDOverSE().judge(x, np.full(2000, 2.0)).outcome == FAIL  # SE doubled: ratio 0.5
    assert SDOverSE().judge(x[:20], np.full(20, 0.85)).outcome == UNDECIDED  # 20 repeats cannot tell 1.18 from 1.25
    assert SDOverSE().judge([1.0, 2.0], [1.0, 1.0]).n == 0
    with pytest.raises(ValueError, match="0 < lo < 1 < hi"):
        SDOverSE(1.1, 1.3)


def test_a_calibration_passes_within_k_standard_errors_and_fails_beyond():
    assert AgreesWith(4).judge([1.0, 2.0], [1.1, 2.0], [0.05, 0.1]).outcome == PASS
    j = AgreesWith(4).judge([1.0, 2.0], [1.5, 2.0], [0.05, 0.1])
    assert j.outcome == FAIL and j.estimate == pytest.approx(10.0)


@pytest.mark.parametrize("estimates, exact, ses, needle", [
    ([1.0, 2.0], [1.0], [0.1, 0.1], "as many"),
    ([1.0, math.nan], [1.0, 2.0], [0.1, 0.1], "finite"),
    ([1.0, 2.0], [1.0, 2.0], [0.1, 0.0], "positive finite SEs"),
])
def test_a_calibration_drops_nothing(estimates, exact, ses, needle):
    with pytest.raises(ValueError, match=needle):
        AgreesWith(4).judge(estimates, exact, ses)


def _j(outcome, n=10):
    return Judgement(outcome, 0.5, 0.4, 0.6, n, "x")


@pytest.mark.parametrize("test, control, conditional, calibration, expected", [
    (PASS, FAIL, None, None, HOLDS),
    (PASS, "none", None, None, INCONCLUSIVE),          # a control with no data controls nothing
    (PASS, UNDECIDED, None, None, HOLDS),
    (PASS, PASS, None, None, INCONCLUSIVE),            # the rule cannot tell the claim from its control
    (PASS, FAIL, None, FAIL, INCONCLUSIVE),            # the measurement is off
    (PASS, FAIL, None, UNDECIDED, INCONCLUSIVE),
    (PASS, FAIL, None, PASS, HOLDS),
    (FAIL, FAIL, None, None, REFUTED),
    (FAIL, FAIL, FAIL, None, REFUTED),
    (FAIL, FAIL, PASS, None, CONDITIONAL),
    (UNDECIDED, FAIL, PASS, None, INCONCLUSIVE),
])
def test_the_verdict_follows_one_fixed_logic(test, control, conditional, calibration, expected):
    e = Evidence(_j(test), _j(UNDECIDED, n=0) if control == "none" else _j(control), conditional=None if conditional is None else _j(conditional),
                 calibration=None if calibration is None else _j(calibration), condition="the base is too sharp")
    assert verdict(e) == expected


def test_holding_under_a_condition_needs_the_condition_named():
    e = Evidence(_j(FAIL), _j(FAIL), conditional=_j(PASS), condition=" ")
    assert verdict(e) == REFUTED


def test_every_part_must_pass():
    from neon_theory.run.claims import every

    assert every([_j(PASS), _j(FAIL), _j(UNDECIDED)]).outcome == FAIL
    assert every([_j(PASS), _j(UNDECIDED)]).outcome == UNDECIDED
    assert every([_j(PASS), _j(PASS)]).outcome == PASS


def test_a_claim_must_say_what_it_claims_and_may_not_take_another_modules_name():
    def judge(frames):
        return Evidence(_j(PASS), _j(FAIL))

    base = dict(name="x-test-claim", statement="s", source="Thm 0", rule="r", control="c", sweeps={}, judge=judge)
    with pytest.raises(ValueError, match="statement must say something"):
        register_claim(Claim(**{**base, "statement": " "}))
    with pytest.raises(ValueError, match="name must be letters"):
        register_claim(Claim(**{**base, "name": "a b"}))
    with pytest.raises(ValueError, match="sweeps must map"):
        register_claim(Claim(**{**base, "sweeps": {"a": 1}}))
    from neon_theory.run.claims import CLAIMS

    register_claim(Claim(**base))
    try:
        def other(frames):
            return Evidence(_j(PASS), _j(FAIL))
        other.__module__ = "someone.else"
        with pytest.raises(ValueError, match="already registered"):
            register_claim(Claim(**{**base, "judge": other}))
    finally:
        CLAIMS.pop("x-test-claim")


def test_a_judgement_reads_as_its_interval():
    assert Judgement(PASS, 0.9, 0.8, 1.0, 30, "x").text() == "0.9 [0.8, 1] (n = 30)"
    assert Universal().judge([True, False]).text() == "0.5 (exact, n = 2)"
    assert Judgement(UNDECIDED, math.nan, math.nan, math.nan, 0, "x").text() == "no data"
