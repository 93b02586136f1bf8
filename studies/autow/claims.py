"""The auto-w study's claims: is w chosen without a metric search (:mod:`neon_theory.autow`) the best w?

Per family (the exact Gaussian, the two official toys, the three image families), three claims:

- ``auto-w-loss-F``: auto w (the displacement vertex, ⟨r_d, Δ⟩/⟨Δ, HΔ⟩ on fresh real rows) is within
  0.5-2× of Brent's best w on the real loss (the risk the theory is about; for the Gaussian, the
  exact NLL);
- ``auto-w-metric-F``: the same against Brent's best w on the sample metric (FD, FID), the one a
  user of Neon tunes on (not for the Gaussian, whose metric is its exact NLL);
- ``auto-w-interval-F``: auto w's interval holds Brent's best w on the loss.

The unit is a seed (its cells share a base model); a seed holds when the statement holds in every
cell.  The official toys and the Gaussian are scored on 30 seeds at a bar of 0.8, the image families
on 10 seeds at the image claims' bar of 0.5 ("in most seeds"; 10 of 10 cannot pass 0.8).  The
control pairs each auto w with the best w of another, random cell (a seeded permutation), which
must fail.  The notes give the three-point variant's share and coverage, and the loss and metric
given away at auto w against the best w, with SEs over seeds.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from neon_theory.run.claims import Claim, Evidence, SignCount, register_claim
from neon_theory.run.sweeps import SweepSpec

from ..presets import sampler_grid
from ..scoring import BAND, listing, ok_rows, per_seed, permuted, scoring_seeds, seed_list, within_band

#: the Gaussian's cells: both bases of the demo at a mode- and a diversity-seeking temperature
GAUSSIAN_TEMPERATURES = (0.5, 2.0)


def gaussian_spec(preset: str) -> SweepSpec:
    """Both demo bases at T = 0.5 and 2 (exact NLL, auto w on 20,000 real draws), 30 scoring seeds."""
    return SweepSpec("gaussian-cell", grid={"base": ["under-dispersed", "over-dispersed"], "sampler": sampler_grid("temperature", GAUSSIAN_TEMPERATURES)},
                     seeds=scoring_seeds(preset, paper=30), fixed={"auto_w": True})


def ar_spec(preset: str) -> SweepSpec:
    """The official AR toy at its published τ and budgets, Brent on the FD and the NLL and auto w, 30 scoring seeds."""
    from ..official_ar.toy import ARToyConfig

    toy = ARToyConfig.preset(preset)
    return SweepSpec("ar-cell", grid={"sampler": sampler_grid("std-temperature", toy.taus), "ft_epochs": toy.ft_epochs},
                     seeds=scoring_seeds(preset, paper=30), fixed={"preset": preset, "cosine": False, "best_w": True, "auto_w": True})


def diffusion_spec(preset: str) -> SweepSpec:
    """The official diffusion toy at its published ζ and budgets, Brent on the FD and the loss and auto w, 30 scoring seeds."""
    from ..official_diffusion.toy import DiffusionToyConfig

    toy = DiffusionToyConfig.preset(preset)
    return SweepSpec("diffusion-cell", grid={"sampler": sampler_grid("score-scale", toy.zetas), "ft_steps": toy.ft_steps},
                     seeds=scoring_seeds(preset, paper=30), fixed={"preset": preset, "cosine": False, "best_w": True, "auto_w": True})


def image_spec(family: str, preset: str) -> SweepSpec:
    """The image claims' cells (8×8 digits, mode- and diversity-seeking settings, 10 scoring seeds), which carry auto w."""
    from ..images.figures import scoring_spec

    return scoring_spec(family, preset)


@dataclass(frozen=True)
class On:
    """The columns of one metric in a family's cells.

    Attributes:
        words (str): the metric in words.
        best (str): Brent's best w on it.
        value (str): its value at that w.
        at (str): its name in the ``NAME_at_auto`` fields.
        base (str): its value at w = 0.
        edge (str): true where the best w lies at the bracket's edge ("" if not recorded).
    """

    words: str
    best: str
    value: str
    at: str
    base: str
    edge: str = ""

    def column(self, field: str) -> str:
        return "result." + getattr(self, field) if field in ("best", "value", "base", "edge") else f"result.{self.at}_{field}"


@dataclass(frozen=True)
class AutoFamily:
    """What the auto-w claims read from one family's cells.

    Attributes:
        words (str): the family in words.
        spec: preset → its sweep.
        bar (float): the sign count's bar.
        loss (On): the real loss (the risk).
        metric (On | None): the sample metric, or None where the loss is the metric.
        independent_reference (bool): whether Brent's best w on the loss is estimated on rows independent of auto w's
            (the toys: fixed target rows against auto w's fresh draws, as many of each): the interval claim then
            allows for its error.  Not on the Gaussian (exact) nor on images (the same held-out rows: the
            reference shares auto w's data, and differs at most by its loss noise, which can only lower the coverage).
    """

    words: str
    spec: Callable
    bar: float
    loss: On
    metric: On | None = None
    independent_reference: bool = False


_LOSS = {"best": "best_w_loss", "value": "best_loss", "at": "loss", "base": "base_loss", "edge": "at_boundary_loss"}
_FD = On("the FD", "best_w", "best_fd", "fd", "base_fd", "at_boundary")
FAMILIES = {
    "gaussian": AutoFamily("the exact Gaussian (the demo's two bases)", gaussian_spec, 0.8,
                           On("the exact population NLL", "best_w", "best_nll", "nll", "base_nll")),
    "ar": AutoFamily("the official AR toy", ar_spec, 0.8, On("the population NLL", **_LOSS), _FD, independent_reference=True),
    "diffusion": AutoFamily("the official diffusion toy", diffusion_spec, 0.8, On("the population denoising loss", **_LOSS), _FD,
                            independent_reference=True),
    **{f"images-{f}": AutoFamily(f"images ({f}, 8×8 digits)", functools.partial(image_spec, f), 0.5, On("the held-out loss", **_LOSS),
                                 On("FID", "best_w_fid", "best_fid", "fid", "base_fid", "at_boundary_fid"))
       for f in ("diffusion", "flow", "pixel-ar")},
}


def covers(low, high, w) -> bool:
    """Whether a bounded interval [low, high] holds w (an unbounded or missing one holds nothing)."""
    vals = (low, high, w)
    return all(v is not None and math.isfinite(float(v)) for v in vals) and low <= w <= high


def _with_derived(rows: pd.DataFrame) -> pd.DataFrame:
    """The Gaussian cells record the base NLL and the gain: the NLL at the best w is their difference."""
    if "result.base_nll" in rows and "result.best_nll" not in rows:
        rows = rows.assign(**{"result.best_nll": rows["result.base_nll"] - rows["result.gain"]})
    return rows


def _mean_se(values) -> str:
    """mean ± SE of values (per-seed means: one unit per seed)."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(float(x))], float)
    if len(v) < 2:
        return "n/a"
    return f"{v.mean():+.3g} ± {v.std(ddof=1) / math.sqrt(len(v)):.2g}"


def _gap_notes(rows: pd.DataFrame, on: On) -> str:
    """What auto w gives away on one metric: its value at auto minus at the best w (mean ± SE over seeds of per-seed
    means), for both variants, and the median share of the best w's gain over the base."""
    value, gain = rows[on.column("value")], rows[on.column("base")] - rows[on.column("value")]
    gaps = {tag: rows[on.column(f"at_auto{tag}")] - value for tag in ("", "_three_point")}
    share = (gaps[""] / gain).median()
    return (f"{on.words} at auto w minus at the best w: {_mean_se(gaps[''].groupby(rows.seed).mean())} "
            f"(three-point: {_mean_se(gaps['_three_point'].groupby(rows.seed).mean())}); median share of the best w's gain given away {share:.2g}")


def judge_near(frames: dict, *, family: str, on: str) -> Evidence:
    """auto w within the band of Brent's best w on ``on`` ("loss" or "metric") in every cell of a seed."""
    fam = FAMILIES[family]
    rows = _with_derived(ok_rows(frames["cells"]))
    metric = fam.loss if on == "loss" else fam.metric
    best = metric.column("best")
    rule = SignCount(fam.bar, f"fraction of seeds where auto w is within {BAND[0]:g}-{BAND[1]:g}x of the best w on {metric.words} in every cell")

    def close(column):
        return lambda g: all(within_band(a, b) for a, b in zip(g[column], g[best]))

    test = rule.judge(per_seed(rows, close("result.auto_w")))
    control = rule.judge(per_seed(rows.assign(**{best: permuted(rows[best], f"auto-w/{family}/{on}")}), close("result.auto_w")))
    notes = ""
    if len(rows):
        ratio = rows["result.auto_w"] / rows[best]
        edge = int(rows[metric.column("edge")].fillna(False).astype(bool).sum()) if metric.edge and metric.column("edge") in rows else 0
        notes = "; ".join((
            f"auto w / best w: median {ratio.median():.3g}, from {ratio.min():.3g} to {ratio.max():.3g} over {len(rows)} cells",
            f"the three-point variant holds in {np.mean(per_seed(rows, close('result.auto_w_three_point'))):.0%} of seeds",
            _gap_notes(rows, metric),
            f"{edge} cells with the best w at the search bracket's edge",
        ))
    outside = rows[[not within_band(a, b) for a, b in zip(rows["result.auto_w"], rows[best])]]
    shown = {"seed": "seed", "sampler": "sampler", "auto w": "result.auto_w", "best w": best}
    condition = "" if test.outcome != "fail" or outside.empty else "outside the band at " + listing(outside, shown)
    return Evidence(test, control, seeds=seed_list(rows), condition=condition, notes=notes)


#: the interval's quantile in the toys' cells (t on AUTO_BATCHES - 1 = 19 degrees of freedom, as auto_w computes it);
#: only the toys get a reference margin (:attr:`AutoFamily.independent_reference`), and they cut their rows into 20 batches
T_19 = 2.093024054408263


def reference_margin(se, independent: bool) -> float:
    """How far beyond auto w's interval Brent's best w may lie and still count as held, from the reference's own
    Monte Carlo error: none unless the reference is estimated on independent rows; then it is the vertex of the same
    loss on as many rows, so its SE is about auto w's, which widens the t·SE half-widths to t·√(SE² + SE²): an extra
    t·(√2 − 1)·SE."""
    if not independent:
        return 0.0
    return T_19 * (math.sqrt(2) - 1) * float(se) if se is not None and math.isfinite(float(se)) else 0.0


def judge_interval(frames: dict, *, family: str) -> Evidence:
    """auto w's interval holds Brent's best w on the loss in every cell of a seed (allowing for the reference's error)."""
    fam = FAMILIES[family]
    rows = _with_derived(ok_rows(frames["cells"]))
    best = fam.loss.column("best")
    lo, hi = "result.auto_w_low", "result.auto_w_high"
    margin = [reference_margin(se, fam.independent_reference) for se in rows["result.auto_w_se"]]
    rows = rows.assign(low=[a - m if a is not None else None for a, m in zip(rows[lo], margin)],
                       high=[b + m if b is not None else None for b, m in zip(rows[hi], margin)])
    allowing = " (allowing for the reference's Monte Carlo error)" if fam.independent_reference else ""
    rule = SignCount(fam.bar, f"fraction of seeds where auto w's interval holds the best w on {fam.loss.words}{allowing} in every cell")

    def held(g) -> bool:
        return all(covers(a, b, w) for a, b, w in zip(g["low"], g["high"], g[best]))

    test = rule.judge(per_seed(rows, held))
    control = rule.judge(per_seed(rows.assign(**{best: permuted(rows[best], f"auto-w-interval/{family}")}), held))
    missed = rows[[not covers(a, b, w) for a, b, w in zip(rows["low"], rows["high"], rows[best])]]
    notes = ""
    if len(rows):
        raw = np.mean([covers(a, b, w) for a, b, w in zip(rows[lo], rows[hi], rows[best])])
        cells = np.mean([covers(a, b, w) for a, b, w in zip(rows["low"], rows["high"], rows[best])])
        three = np.mean([covers(a, b, w) for a, b, w in zip(rows["result.auto_w_three_point_low"], rows["result.auto_w_three_point_high"], rows[best])])
        unbounded = int(sum(not covers(a, b, a) for a, b in zip(rows[lo], rows[hi])))
        width = ((rows[hi] - rows[lo]) / rows[best].abs()).median()
        notes = (f"the interval holds the best w in {cells:.0%} of {len(rows)} cells ({raw:.0%} without the reference's margin; the three-point "
                 f"variant's own interval, Monte Carlo error only: {three:.0%}); {unbounded} cells without a bounded interval (no w, or no model-error probe); "
                 f"median width / |best w| {width:.2g}")
    shown = {"seed": "seed", "sampler": "sampler", "low": lo, "high": hi, "best w": best}
    condition = "" if test.outcome != "fail" or missed.empty else "missed at " + listing(missed, shown)
    return Evidence(test, control, seeds=seed_list(rows), condition=condition, notes=notes)


_SOURCE = "this toolkit's question beyond the paper (the paper picks w on a FID grid); App. B.10's plug-in along the realised step"
for _name, _fam in FAMILIES.items():
    _seeds = "seeds" if _fam.bar >= 0.8 else "seeds (at least most seeds: 10 scoring seeds)"
    register_claim(Claim(
        name=f"auto-w-loss-{_name}",
        statement=f"On {_fam.words}, w chosen without a metric search (auto: the vertex of the real loss's quadratic along the fine-tuning "
                  f"step) is within {BAND[0]:g}-{BAND[1]:g}x of Brent's best w on {_fam.loss.words}, in every cell of {_fam.bar:.0%} of {_seeds}.",
        source=_SOURCE,
        rule=SignCount(_fam.bar, f"fraction of seeds with auto w within {BAND[0]:g}-{BAND[1]:g}x of the best w in every cell").rule(),
        control="the same rule with the best w permuted over all cells (a seeded permutation), which must fail",
        sweeps={"cells": _fam.spec},
        judge=functools.partial(judge_near, family=_name, on="loss"),
        order=90,
    ))
    if _fam.metric is not None:
        register_claim(Claim(
            name=f"auto-w-metric-{_name}",
            statement=f"On {_fam.words}, auto w is within {BAND[0]:g}-{BAND[1]:g}x of Brent's best w on {_fam.metric.words} (the metric a user "
                      f"tunes w on), in every cell of {_fam.bar:.0%} of {_seeds}.",
            source=_SOURCE,
            rule=SignCount(_fam.bar, f"fraction of seeds with auto w within {BAND[0]:g}-{BAND[1]:g}x of the best w on the metric in every cell").rule(),
            control="the same rule with the best w permuted over all cells (a seeded permutation), which must fail",
            sweeps={"cells": _fam.spec},
            judge=functools.partial(judge_near, family=_name, on="metric"),
            order=91,
        ))
    register_claim(Claim(
        name=f"auto-w-interval-{_name}",
        statement=f"On {_fam.words}, auto w's interval (the quadratic's vertex and its model-error probes, the cubic's stationary point and "
                  f"the three-point vertex, each ± t·SE) holds Brent's best w on {_fam.loss.words}"
                  f"{' (itself estimated on as many independent rows: the interval is widened by its error)' if _fam.independent_reference else ''}, "
                  f"in every cell of {_fam.bar:.0%} of {_seeds}.",
        source=_SOURCE,
        rule=SignCount(_fam.bar, "fraction of seeds where the interval holds the best w in every cell").rule(),
        control="the same rule with the best w permuted over all cells (a seeded permutation), which must fail",
        sweeps={"cells": _fam.spec},
        judge=functools.partial(judge_interval, family=_name),
        order=92,
    ))
