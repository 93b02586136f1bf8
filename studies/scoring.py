"""What the studies' claims share: the scoring seeds, reading sweep tables, and the permutation control.

**The scoring seeds.**  Every claim is scored on seeds from 100 up, which no development run,
figure or tuning of this project used (those ran seeds 0–29).  Anything a claim tunes (a
threshold, a budget, the grids) was fixed on the development seeds, in code, before the scoring run.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd

from neon_theory.rng import draw, generator

#: the first scoring seed: development, figures and tuning used seeds below it
FIRST_SCORING_SEED = 100


def scoring_seeds(preset: str, paper: int = 10, smoke: int = 2) -> tuple:
    """The seeds a claim is scored on: ``smoke`` of them (2) at ``smoke``, ``paper`` otherwise, from :data:`FIRST_SCORING_SEED`.
    (At smoke no statistical claim can pass: the image claims take one seed there, for CI time.)"""
    n = smoke if preset == "smoke" else paper
    return tuple(range(FIRST_SCORING_SEED, FIRST_SCORING_SEED + n))


def ok_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The records that finished (a record's result fields are the columns ``result.<name>``)."""
    return frame[frame.status == "ok"]


def sign(x) -> int:
    """−1, 0 or +1 of a real number (numpy scalars included); 0 for zero, a missing value or NaN."""
    if x is None or isinstance(x, bool) or not isinstance(x, numbers.Real) or not math.isfinite(float(x)) or x == 0:
        return 0
    return 1 if x > 0 else -1


def opposite(a, b) -> bool:
    """sign(a) = −sign(b), both known and non-zero (a missing value is a miss, never a match)."""
    return sign(a) != 0 and sign(a) == -sign(b)


def permuted(values, name: str) -> list:
    """``values`` in a fixed random order (a seeded permutation of the rows).

    The negative control of a prediction: the same rule with the predictor taken from another,
    random row keeps everything about the data but the pairing.  It fails unless the predictor
    carries no information the rule can see (every row has the same sign, say), and then the
    claim is rightly inconclusive."""
    import torch

    values = list(values)
    order = draw(torch.randperm, len(values), generator=generator(0, f"claim-control/{name}"), device="cpu")
    return [values[int(i)] for i in order]


def per_seed(rows: pd.DataFrame, test) -> list[bool]:
    """``test(group)`` for each seed's records: one unit per seed (cells of one seed share a base model)."""
    return [bool(test(g)) for _, g in rows.groupby("seed")]


def sign_agreement(rows: pd.DataFrame, name: str, axes: list, *, best: str = "result.best_w", metric: str = "FD", at_least: float = 0.8):
    """The sign rule of Thm B.1 on a table of cells: per seed, does sign(best w) = -sign(s) in every
    cell?  Returns the Evidence, with the permuted-s control and the disagreeing cells listed."""
    from neon_theory.run.claims import Evidence, SignCount

    rule = SignCount(at_least, f"fraction of seeds where sign(best w on {metric}) = -sign(s) in every cell")
    test = rule.judge(per_seed(rows, lambda g: all(opposite(w, v) for w, v in zip(g[best], g["result.s"]))))
    shuffled = rows.assign(**{"result.s": permuted(rows["result.s"], name)})
    control = rule.judge(per_seed(shuffled, lambda g: all(opposite(w, v) for w, v in zip(g[best], g["result.s"]))))
    wrong = rows[[not opposite(w, v) for w, v in zip(rows[best], rows["result.s"])]]
    shown = {"seed": "seed", **{a: a for a in axes}, "best w": best, "s": "result.s"}
    return Evidence(test, control, seeds=seed_list(rows), condition="" if wrong.empty else "disagrees at " + listing(wrong, shown))


#: the band within which a predicted w counts as the best w (a factor of 2 either way), fixed before the run
BAND = (0.5, 2.0)


def within_band(pred, best, band: tuple = BAND) -> bool:
    """pred / best in ``band`` (so the same sign); a missing or non-finite value, or best = 0, is a miss."""
    ok = all(v is not None and math.isfinite(float(v)) for v in (pred, best)) and best != 0
    return ok and band[0] <= pred / best <= band[1]


def beats(gain, other, factor: float = 1.0) -> bool:
    """A gain that is real and ``factor`` × another's: finite, positive, and above factor × max(other, 0)
    (at or above, for factor < 1).  A negative other (Brent landing just off w = 0) counts as 0, so a gain
    of nothing never "beats" it."""
    if not all(v is not None and math.isfinite(float(v)) for v in (gain, other)) or not gain > 0:
        return False
    other = max(float(other), 0.0)
    return gain > factor * other if factor >= 1 else gain >= factor * other


def seed_list(rows: pd.DataFrame) -> tuple:
    """The seeds of a table, as plain ints, sorted."""
    return tuple(sorted(int(x) for x in rows.seed.unique()))


def listing(rows: pd.DataFrame, columns: dict, limit: int = 6) -> str:
    """A few records as text, ``label = value`` for each label → column of ``columns``, e.g.
    ``seed = 101, T = 0.5, s = +0.0055``."""
    parts = [", ".join(f"{label} = {r[c]:+.3g}" if isinstance(r[c], float) else f"{label} = {r[c]}" for label, c in columns.items())
             for _, r in rows.head(limit).iterrows()]
    return _first(parts, len(rows), limit)


def _first(parts: list, total: int, limit: int = 6) -> str:
    """The first ``limit`` of ``total`` items, joined, with how many more there are."""
    return "; ".join(parts[:limit]) + (f" (and {total - limit} more)" if total > limit else "")


def published_ratios(rows: pd.DataFrame, published: dict, axes: tuple, column: str = "result.best_w") -> dict:
    """(sharpness, budget) → the per-seed ratios of ``column`` to the published value of that cell
    (``published`` maps (sharpness, budget) to the value; ``axes`` names the two columns)."""
    out = {}
    for (sharp, budget), value in published.items():
        g = rows[(rows[axes[0]].astype(float) == sharp) & (rows[axes[1]].astype(float) == budget)]
        if len(g):
            out[(sharp, budget)] = (g[column].astype(float) / value).tolist()
    return out


def judge_magnitudes(rows: pd.DataFrame, published: dict, axes: tuple, band: tuple = (0.5, 2.0)):
    """The mean over seeds of best w / published best w in each published cell, against ``band``;
    the control pairs each cell with the published value of the opposite sharpness (the same budget)."""
    from neon_theory.run.claims import Evidence, MeanIn, every

    rule = MeanIn(band[0], band[1], "mean over seeds of best w / the published best w, in the least favourable cell")
    ratios = published_ratios(rows, published, axes)
    test = every(rule.judge(v) for v in ratios.values())
    sharps = sorted({k[0] for k in published})
    swapped = {(sharps[1 - sharps.index(a)], b): v for (a, b), v in published.items()} if len(sharps) == 2 else {}
    control = every(rule.judge(v) for v in published_ratios(rows, swapped, axes).values())
    means = {k: sum(v) / len(v) for k, v in ratios.items()}
    text = "; ".join(f"{axes[0]} = {a:g}, {axes[1]} = {b:g}: {means[(a, b)]:.2f}x (published {published[(a, b)]:+g})" for a, b in ratios)
    outside = [f"{axes[0]} = {a:g}, {axes[1]} = {b:g}: {means[(a, b)]:.2f}x" for a, b in ratios if not band[0] < means[(a, b)] < band[1]]
    return Evidence(test, control, seeds=seed_list(rows),
                    condition="" if test.outcome != "fail" else "mean best w outside the band at " + "; ".join(outside),
                    notes=f"mean best w / published, per cell: {text}")


#: where the precision/recall claims come from
PR_SOURCE = "the paper's precision and recall of θ_Neon(w) samples on its image models"
#: a seed's precision "falls monotonically" with w when its Spearman correlation with w is at most this: prdc's
#: sampling noise is larger than the change between neighbouring grid points, so strict monotonicity is not testable
MONOTONE_RHO = -0.8


def falls_along(x, values) -> bool:
    """Spearman ρ(x, values) ≤ :data:`MONOTONE_RHO`: the values fall along x up to noise (a constant curve does not fall)."""
    rho = _spearman(x, values)
    return bool(math.isfinite(rho) and rho <= MONOTONE_RHO)


def quadratic_vertex(w, values) -> tuple[float, float]:
    """(curvature, vertex) of the least-squares quadratic of ``values`` on ``w``: an inverted U has
    curvature < 0 and its vertex strictly inside the grid."""
    a, b, _ = np.polyfit(np.asarray(w, float), np.asarray(values, float), 2)
    return float(a), (float(-b / (2 * a)) if a != 0 else math.nan)


#: an inverted U, as the precision/recall claims test it
INVERTED_U = ("a concave least-squares quadratic peaking inside the grid, with the values rising before the peak and falling after it: "
              "Spearman ρ > 0 over the grid points left of the peak and < 0 over those right of it, at least 3 on each side")


def inverted_u(w, values) -> bool:
    """:data:`INVERTED_U`: the fit alone would pass a curve that rises and levels off (min(w, 0)), so each side
    must also move towards the peak."""
    a, vertex = quadratic_vertex(w, values)
    flat = abs(a) <= 1e-9 * max(1.0, max(abs(float(v)) for v in values))  # a constant's fit has a curvature of rounding error
    if not (a < 0 and not flat and min(w) < vertex < max(w)):
        return False
    x, y = np.asarray(w, float), np.asarray(values, float)
    left, right = x < vertex, x > vertex
    if left.sum() < 3 or right.sum() < 3:
        return False
    rise, fall = _spearman(x[left], y[left]), _spearman(x[right], y[right])
    return bool(rise > 0 and fall < 0)  # NaN (a flat side) is neither


def _curves(rows: pd.DataFrame, metric: str) -> list:
    """(seed, w, values) per record, sorted by seed, from the list columns ``w_values`` and ``result.<metric>_at_w``."""
    return [(int(r.seed), list(map(float, r["w_values"])), list(map(float, r[f"result.{metric}_at_w"])))
            for _, r in rows.sort_values("seed").iterrows()]


def _spearman(w, values) -> float:
    """Spearman's ρ, NaN where either side is constant (undefined: scipy would warn)."""
    from scipy.stats import spearmanr

    w, values = list(w), list(values)
    if len(set(w)) < 2 or len(set(values)) < 2:
        return math.nan
    return float(spearmanr(w, values).statistic)


def _nanmedian(values) -> float:
    return float(np.nanmedian(values)) if len(values) else math.nan


def _not_holding(what: str, where: list) -> str:
    """``what at seed = 101, ...; seed = 104, ...`` for (seed, text) pairs, or "" when there are none."""
    return f"{what} at " + _first([f"seed = {s}, {text}" for s, text in where], len(where)) if where else ""


def precision_recall_evidence(mode: pd.DataFrame, other: pd.DataFrame, name: str, words: tuple[str, str], *, at_least: float = 0.8):
    """The paper's reading of precision and recall along w: precision falls monotonically, recall is an
    inverted U.  ``mode`` holds one record per seed at the mode-seeking setting, ``other`` at the other
    setting (diversity-seeking or mixed), each with list columns ``w_values``, ``result.precision_at_w``
    and ``result.recall_at_w``; ``words`` names the two settings.

    Returns (precision Evidence, recall Evidence).  The precision control is the same rule at the other
    setting, where negative extrapolation sharpens instead of diversifying; the recall control is the
    same rule with each seed's recall values in a seeded random order along w."""
    from neon_theory.run.claims import Evidence, SignCount

    mode_p, other_p, mode_r = _curves(mode, "precision"), _curves(other, "precision"), _curves(mode, "recall")
    falls = SignCount(at_least, f"fraction of seeds where precision falls monotonically with w (Spearman ρ ≤ {MONOTONE_RHO:g}) at {words[0]}")
    peaks = SignCount(at_least, f"fraction of seeds where recall is an inverted U in w at {words[0]}")
    shuffled = [(s, w, permuted(y, f"{name}/{s}")) for s, w, y in mode_r]
    rhos, other_rhos = [_spearman(w, y) for _, w, y in mode_p], [_spearman(w, y) for _, w, y in other_p]
    vertices = [quadratic_vertex(w, y) for _, w, y in mode_r]
    seeds = tuple(sorted({s for s, _, _ in mode_p + other_p}))
    span = f"w from {mode_p[0][1][0]:g} to {mode_p[0][1][-1]:g} ({len(mode_p[0][1])} points)" if mode_p else "no curves"

    def change(curves: list) -> float:
        return sum(y[-1] - y[0] for _, _, y in curves) / max(len(curves), 1)

    def neon_side(curves: list, test) -> str:
        """How many seeds pass ``test`` on w ≥ 0 alone (the side the paper reads; a description, not the rule)."""
        kept = [([x for x in w if x >= 0], [v for x, v in zip(w, y) if x >= 0]) for _, w, y in curves]
        return f"{sum(bool(test(w, y)) for w, y in kept)} of {len(kept)}"

    def rises(w, y) -> bool:
        return falls_along([-x for x in w], y)

    precision = Evidence(
        falls.judge([r <= MONOTONE_RHO for r in rhos]), falls.judge([r <= MONOTONE_RHO for r in other_rhos]), seeds=seeds,  # NaN never falls
        condition=_not_holding("precision does not fall monotonically", [(s, f"ρ = {r:+.2f}") for (s, _, _), r in zip(mode_p, rhos) if not r <= MONOTONE_RHO]),
        notes=f"{span}; median Spearman ρ(w, precision) {_nanmedian(rhos):+.2f} at {words[0]} and {_nanmedian(other_rhos):+.2f} at {words[1]}; "
              f"mean precision change over the grid {change(mode_p):+.3f} and {change(other_p):+.3f}; on w ≥ 0 alone (a description, not the rule) "
              f"precision falls in {neon_side(mode_p, falls_along)} seeds at {words[0]}",
    )
    recall = Evidence(
        peaks.judge([inverted_u(w, y) for _, w, y in mode_r]), peaks.judge([inverted_u(w, y) for _, w, y in shuffled]), seeds=seeds,
        condition=_not_holding("recall is not an inverted U", [(s, f"curvature {a:+.3g}, vertex {v:+.3g}")
                                                              for (s, w, y), (a, v) in zip(mode_r, vertices) if not inverted_u(w, y)]),
        notes=f"{span}; concave in {sum(a < 0 for a, _ in vertices)} of {len(vertices)} seeds at {words[0]}, median vertex "
              f"{_nanmedian([v for a, v in vertices if a < 0]):+.3g} among those; mean recall change over the grid {change(mode_r):+.3f}; "
              f"recall rises all along the grid (Spearman ρ ≥ {-MONOTONE_RHO:g}) in {sum(rises(w, y) for _, w, y in mode_r)} of {len(mode_r)} seeds, "
              f"on w ≥ 0 alone in {neon_side(mode_r, rises)}",
    )
    return precision, recall
