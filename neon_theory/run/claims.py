"""Claims: the paper's statements as registered contracts, each judged by a pass rule fixed in code.

A study registers its claims (:func:`register_claim`) from a module named in the
``neon_theory.claims`` entry-point group, beside its experiments and figures.  A claim is:

* the **statement** as the paper makes it and its **source** (section, equation);
* the **sweeps** it reads (label → ``build(preset) -> SweepSpec``, as a figure's), run through
  the one result store, so a scorecard run recomputes nothing that is cached;
* a **judge**, ``judge(frames) -> Evidence``, which applies the claim's pass rule to the
  claim's data, to a **negative control** that must fail, and, where a closed form exists, a
  **calibration** that must pass.

The pass rules are the small frozen classes of this module (:class:`SignCount`,
:class:`Universal`, :class:`MeanIn`, :class:`SlopeIn`, :class:`AgreesWith`, :class:`SDOverSE`): each turns data into a
:class:`Judgement` with a 95% interval and one of three outcomes.  Every rule is written in a
claim's code before the run it scores, and :func:`verdict` combines the judgements by one fixed
logic, so a verdict cannot be tuned on the data it reports.  ``neon-theory scorecard``
(:mod:`neon_theory.run.scorecard`) runs them all and writes the report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ..checks import check_real
from .experiments import refuse_override
from .summary import t_interval

#: the outcomes of a pass rule on one set of data
PASS, FAIL, UNDECIDED = "pass", "fail", "undecided"
#: a claim's verdicts, strongest first
HOLDS, CONDITIONAL, REFUTED, INCONCLUSIVE = "holds", "holds under a condition", "refuted", "inconclusive"
VERDICTS = (HOLDS, CONDITIONAL, REFUTED, INCONCLUSIVE)
LEVEL = 0.95


@dataclass(frozen=True)
class Judgement:
    """A pass rule applied to one set of data.

    Attributes:
        outcome (str): ``pass`` (the interval lies in the rule's pass region), ``fail`` (it lies in
            the fail region) or ``undecided`` (it straddles the boundary, or there is no data).
        estimate, low, high (float): the effect and its 95% interval (nan where there is no data).
        n (int): the number of independent units behind it (seeds, mostly).
        what (str): the effect in words, e.g. "fraction of seeds with s < 0".
    """

    outcome: str
    estimate: float
    low: float
    high: float
    n: int
    what: str
    exact: bool = False

    def text(self) -> str:
        """``0.93 [0.78, 0.99] (n = 30)``, ``1 (exact, n = 62)``, or ``no data``."""
        if self.n == 0 or not math.isfinite(self.estimate):
            return "no data"
        if self.exact:
            return f"{_g(self.estimate)} (exact, n = {self.n})"
        return f"{_g(self.estimate)} [{_g(self.low)}, {_g(self.high)}] (n = {self.n})"


def _g(x: float) -> str:
    return f"{x:.3g}" if math.isfinite(x) else str(x)


def _no_data(what: str) -> Judgement:
    return Judgement(UNDECIDED, math.nan, math.nan, math.nan, 0, what)


def clopper_pearson(k: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """The exact (Clopper–Pearson) ``level`` interval of a binomial fraction k/n."""
    from scipy.stats import beta

    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


@dataclass(frozen=True)
class SignCount:
    """The fraction of units where an event holds (a sign matches, say), against ``at_least``.

    pass: the Clopper–Pearson 95% interval lies at or above ``at_least``; fail: it lies below;
    undecided otherwise.  ``at_least`` = 0.5 reads "in most units"; a law meant to hold in every
    unit uses a high bar (0.8: with 30 of 30 the lower bound is 0.88).
    """

    at_least: float = 0.5
    what: str = "fraction of seeds where it holds"

    def __post_init__(self):
        check_real("at_least", self.at_least, 0.0, 1.0, lo_open=True, hi_open=True)

    def judge(self, hits: Sequence[bool]) -> Judgement:
        hits = [bool(h) for h in hits if h is not None]
        n, k = len(hits), sum(hits)
        if n == 0:
            return _no_data(self.what)
        lo, hi = clopper_pearson(k, n)
        outcome = PASS if lo >= self.at_least else FAIL if hi < self.at_least else UNDECIDED
        return Judgement(outcome, k / n, lo, hi, n, self.what)

    def rule(self) -> str:
        return f"the 95% Clopper–Pearson interval of the {self.what} lies at or above {self.at_least:g}"


@dataclass(frozen=True)
class Universal:
    """An exact statement over units computed without noise (closed forms, exact sums): pass when it
    holds in every unit, fail when one unit is a counterexample.  The "interval" is the fraction itself."""

    what: str = "fraction of cells where it holds"

    def judge(self, hits: Sequence[bool]) -> Judgement:
        hits = [bool(h) for h in hits if h is not None]
        if not hits:
            return _no_data(self.what)
        frac = sum(hits) / len(hits)
        return Judgement(PASS if all(hits) else FAIL, frac, frac, frac, len(hits), self.what, exact=True)

    def rule(self) -> str:
        return f"exact values: it holds in every cell (the {self.what} is 1); one counterexample refutes it"


@dataclass(frozen=True)
class MeanIn:
    """The mean over units of an effect, against an open region (``lo``, ``hi``).

    pass: the 95% t-interval lies inside it; fail: it lies outside it; undecided otherwise.
    """

    lo: float = -math.inf
    hi: float = math.inf
    what: str = "mean over seeds"

    def __post_init__(self):
        if not self.lo < self.hi:
            raise ValueError(f"MeanIn needs lo < hi; got ({self.lo}, {self.hi})")

    def judge(self, values: Sequence[float]) -> Judgement:
        values = [v for v in values if v is not None]
        m, _, lo, hi = t_interval(values, LEVEL)  # the run layer's one t-interval (neon_theory.run.summary)
        n = sum(1 for v in values if math.isfinite(v))
        if n < 2:
            return Judgement(UNDECIDED, m, lo, hi, n, self.what) if n else _no_data(self.what)
        inside = self.lo < lo and hi < self.hi
        outside = hi <= self.lo or lo >= self.hi
        return Judgement(PASS if inside else FAIL if outside else UNDECIDED, m, lo, hi, n, self.what)

    def rule(self) -> str:
        return f"the 95% t-interval of the {self.what} lies in ({self.lo:g}, {self.hi:g})"


@dataclass(frozen=True)
class SlopeIn:
    """A least-squares slope of y on x (log-log where the claim is a power law), against [lo, hi].

    pass: its 95% t-interval lies inside [lo, hi]; fail: it lies outside; undecided otherwise.
    """

    lo: float
    hi: float
    what: str = "slope"

    def judge(self, x: Sequence[float], y: Sequence[float]) -> Judgement:
        """The slope over independent points (x, y); the interval's degrees of freedom are the points' minus 2."""
        from scipy.stats import t

        xs, ys = np.asarray(x, float), np.asarray(y, float)
        keep = np.isfinite(xs) & np.isfinite(ys)
        xs, ys = xs[keep], ys[keep]
        if xs.size < 3 or np.ptp(xs) == 0:
            return _no_data(self.what)
        dx = xs - xs.mean()
        slope = float(dx @ (ys - ys.mean()) / (dx @ dx))
        residual = ys - ys.mean() - slope * dx
        se = math.sqrt(float(residual @ residual) / (xs.size - 2) / float(dx @ dx))  # 0 for an exact line
        half = float(t.ppf(0.5 + LEVEL / 2, xs.size - 2)) * se
        lo, hi = slope - half, slope + half
        outcome = PASS if self.lo <= lo and hi <= self.hi else FAIL if hi < self.lo or lo > self.hi else UNDECIDED
        return Judgement(outcome, slope, lo, hi, int(xs.size), self.what)

    def rule(self) -> str:
        return f"the 95% interval of the {self.what} lies in [{self.lo:g}, {self.hi:g}]"


@dataclass(frozen=True)
class AgreesWith:
    """A calibration: estimates against exact values, each within ``k`` of its standard errors.

    The effect is the largest |estimate − exact| / SE.  pass: every one is within ``k``; fail: some
    is beyond ``k``.  ``k`` is stated with the claim (4 for a handful of comparisons: a 4-SE miss
    has probability 6e-5 per comparison under a correct SE).
    """

    k: float = 4.0
    what: str = "largest |estimate - exact| / SE"

    def judge(self, estimates: Sequence[float], exact: Sequence[float], ses: Sequence[float]) -> Judgement:
        estimates, exact, ses = list(estimates), list(exact), list(ses)
        if not len(estimates) == len(exact) == len(ses):
            raise ValueError(f"AgreesWith needs as many exact values and SEs as estimates; got {len(estimates)}, {len(exact)}, {len(ses)}")
        if not all(math.isfinite(v) for v in estimates + exact) or not all(math.isfinite(s) and s > 0 for s in ses):
            raise ValueError("AgreesWith needs finite estimates and exact values and positive finite SEs (a calibration may not drop any)")
        z = [abs(e - x) / s for e, x, s in zip(estimates, exact, ses)]
        if not z:
            return _no_data(self.what)
        worst = max(z)
        return Judgement(PASS if worst <= self.k else FAIL, worst, min(z), worst, len(z), self.what)

    def rule(self) -> str:
        return f"every estimate is within {self.k:g} standard errors of the exact value"


@dataclass(frozen=True)
class SDOverSE:
    """An estimator's reported standard errors against the spread of its estimates over independent
    repeats: the ratio SD / mean SE (:func:`neon_theory.calibration.se_calibration`) against an open
    region (``lo``, ``hi``) around 1.

    The interval is the ratio ± 1.96 of its delta-method SE (the SD's, through the estimates'
    kurtosis, and the mean SE's).  pass: it lies inside the region; fail: outside; undecided
    otherwise.  The ratio, not the mean of ((x − x̄)/SE)², because an SE estimated from B batches
    makes each standardised deviation a t with B − 1 degrees of freedom, whose square has mean
    (B − 1)/(B − 3) and a heavy tail even when the SE is honest.
    """

    lo: float = 0.8
    hi: float = 1.25
    what: str = "SD of the estimates over repeats / their mean reported SE"

    def __post_init__(self):
        if not 0 < self.lo < 1 < self.hi:
            raise ValueError(f"SDOverSE needs 0 < lo < 1 < hi; got ({self.lo}, {self.hi})")

    def judge(self, estimates: Sequence[float], ses: Sequence[float]) -> Judgement:
        from scipy.stats import norm

        from ..calibration import se_calibration

        if len(estimates) < 3:
            return _no_data(self.what)
        cal = se_calibration(estimates, ses)
        half = float(norm.ppf(0.5 + LEVEL / 2)) * cal.ratio_se
        lo, hi = cal.ratio - half, cal.ratio + half
        outcome = PASS if self.lo < lo and hi < self.hi else FAIL if hi <= self.lo or lo >= self.hi else UNDECIDED
        return Judgement(outcome, cal.ratio, lo, hi, cal.repeats, self.what)

    def rule(self) -> str:
        return f"the 95% delta-method interval of the {self.what} lies in ({self.lo:g}, {self.hi:g})"


@dataclass(frozen=True)
class Evidence:
    """What a claim's judge found.

    Attributes:
        test (Judgement): the pass rule on the claim's data, as the paper states the claim.
        control (Judgement): the same rule on the negative control (a random direction, the
            neutral sampler, shuffled pairs...), which must not pass.
        condition (str): where the claim holds only under a condition, the condition, else where it is
            refuted, the counterexample (what it is, and the seeds or cells).
        conditional (Judgement | None): the rule on the units that meet ``condition``.
        calibration (Judgement | None): the measurement against a closed form, which must pass.
        seeds (tuple): the seeds the evidence comes from.
        notes (str): what the reader needs to know (a selection, a size, a caveat).
    """

    test: Judgement
    control: Judgement
    condition: str = ""
    conditional: Judgement | None = None
    calibration: Judgement | None = None
    seeds: tuple = ()
    notes: str = ""


def verdict(e: Evidence) -> str:
    """The one fixed logic from judgements to a verdict.

    * a calibration that does not pass, a control that passes, or a control with no data makes the
      claim ``inconclusive``: the measurement is off, or the rule does not tell the claim from its control;
    * else the test passing gives ``holds``;
    * the test failing gives ``holds under a condition`` when the rule passes on the units that
      meet the stated condition (which must be named), and ``refuted`` otherwise;
    * an undecided test is ``inconclusive``.
    """
    if (e.calibration is not None and e.calibration.outcome != PASS) or e.control.outcome == PASS or e.control.n == 0:
        return INCONCLUSIVE
    if e.test.outcome == PASS:
        return HOLDS
    if e.test.outcome == FAIL:
        return CONDITIONAL if e.conditional is not None and e.conditional.outcome == PASS and e.condition.strip() else REFUTED
    return INCONCLUSIVE


def every(judgements) -> Judgement:
    """One rule over several parts (dimensions, families): the first failing part if any fails,
    else the first undecided one if any is, else the part with the weakest pass (largest upper bound)."""
    parts = list(judgements)
    if not parts:
        return _no_data("every part")
    for outcome in (FAIL, UNDECIDED):
        hit = [j for j in parts if j.outcome == outcome]
        if hit:
            return hit[0]
    return max(parts, key=lambda j: j.high)


@dataclass(frozen=True)
class Claim:
    """A registered claim (see the module docstring).

    Attributes:
        name (str): a short identifier, e.g. ``sign-law-ar``.
        statement (str): the claim as the paper makes it.
        source (str): where: section, theorem, equation, figure.
        rule (str): the pass rule in words (the rule object's ``rule()``, with what it is applied to).
        control (str): the negative control in words.
        sweeps (dict): label → ``build(preset) -> SweepSpec``; may be empty (the judge computes
            exact quantities itself).
        judge (callable): ``judge(frames) -> Evidence``; ``frames`` maps each label to its sweep table.
        calibration (str): the closed form it is checked against, or "".
        figure (str): a figure of the catalogue that shows the evidence, or "".
        test (str): the test that reproduces the counterexample or the calibration (``path::name``), or "".
        order (int): the row's place in the report (the paper's order).
    """

    name: str
    statement: str
    source: str
    rule: str
    control: str
    sweeps: dict
    judge: Callable[[dict], Evidence]
    calibration: str = ""
    figure: str = ""
    test: str = ""
    order: int = 100
    module: str = field(default="", compare=False)


CLAIMS: dict[str, Claim] = {}


def register_claim(claim: Claim) -> Claim:
    """Add ``claim`` to the registry (a second registration of a name from another module is refused)."""
    if not isinstance(claim, Claim):
        raise ValueError(f"register_claim takes a Claim; got {type(claim).__name__}")
    if not claim.name or not claim.name.replace("-", "").isalnum():
        raise ValueError(f"a claim's name must be letters, digits and dashes; got {claim.name!r}")
    for text in ("statement", "source", "rule", "control"):
        if not getattr(claim, text).strip():
            raise ValueError(f"claim {claim.name!r}: {text} must say something")
    if not isinstance(claim.sweeps, dict) or not all(callable(b) for b in claim.sweeps.values()):
        raise ValueError(f"claim {claim.name!r}: sweeps must map each label to a callable build(preset) -> SweepSpec")
    if not callable(claim.judge):
        raise ValueError(f"claim {claim.name!r}: judge must be callable as judge(frames) -> Evidence")
    module = getattr(getattr(claim.judge, "func", claim.judge), "__module__", "")  # a functools.partial judge: its function's module
    refuse_override("claim", claim.name, CLAIMS[claim.name].module if claim.name in CLAIMS else None, module)
    CLAIMS[claim.name] = registered = Claim(**{**claim.__dict__, "module": module})
    return registered
