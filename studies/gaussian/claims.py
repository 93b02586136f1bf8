"""The exact Gaussian's claims: the sign law (Thm 2 / Lemma B.6) and its over-dispersed counterexample."""

from __future__ import annotations

import math

import pandas as pd

from neon_theory.run.claims import Claim, Evidence, MeanIn, SignCount, Universal, every, register_claim
from neon_theory.run.sweeps import SweepSpec

from ..presets import by_preset, sampler_grid
from ..scoring import listing, ok_rows, per_seed, permuted, scoring_seeds, seed_list
from .figures import fit_spec

MODE_SEEKING_T = (0.5, 0.7, 0.9)
DIVERSITY_SEEKING_T = (1.25, 1.6)


def sign_law_spec(preset: str) -> SweepSpec:
    """Both demo bases at mode- and diversity-seeking temperatures; s is exact (the seed only draws S)."""
    temps = by_preset((0.5, 1.6), MODE_SEEKING_T + DIVERSITY_SEEKING_T, preset)
    return SweepSpec("gaussian-cell", grid={"sampler": sampler_grid("temperature", temps), "base": ["under-dispersed", "over-dispersed"]},
                     seeds=scoring_seeds(preset, paper=1), fixed={"n_synthetic": 2000})


def judge_sign_law(frames: dict) -> Evidence:
    rows = ok_rows(frames["cells"]).drop_duplicates(["base", "T"])  # exact: one unit per (base, T)
    rule = Universal("fraction of (base, T < 1) cells with s < 0")
    sharp = rows[rows["T"] < 1]
    test = rule.judge(sharp["result.s"] < 0)
    under = sharp[sharp.base == "under-dispersed"]
    conditional = rule.judge(under["result.s"] < 0)
    control = rule.judge(rows.loc[(rows["T"] > 1) & (rows.base == "under-dispersed"), "result.s"] < 0)
    bad = sharp[~(sharp["result.s"] < 0)]  # a missing s is a counterexample too
    return Evidence(
        test, control, conditional=conditional,
        condition=("the base is too sharp (under-dispersed: Σ_r below Σ*) in the directions the sampler sharpens; counterexample: the "
                   f"over-dispersed base, {listing(bad, {'T': 'T', 's': 'result.s'})}") if len(bad) else "",
        seeds=(), notes="exact s (closed form, natural coordinates of the demo); the seed only draws S, which s does not depend on",
    )


register_claim(Claim(
    name="sign-law-gaussian",
    statement="A mode-seeking sampler (density temperature T < 1) makes s = <r_d, P r_s> negative, so a small Neon step (w > 0) helps.",
    source="Thm 2 / Lemma B.6",
    rule=Universal().rule() + ", over both demo bases and every T < 1 of the grid",
    control="the same rule at diversity-seeking T > 1 on the under-dispersed base (s > 0 there), which must fail",
    sweeps={"cells": sign_law_spec},
    judge=judge_sign_law,
    figure="over-dispersed",
    test="tests/families/test_gaussian.py::test_overdispersed_model_sharpened_sampler_gives_positive_s",
    order=20,
))


def w_star_spec(preset: str) -> SweepSpec:
    """The demo's SGD fine-tune at both bases and four temperatures: w* and the best w of the exact NLL, per seed (S differs).
    30 seeds: with 10, even 10 of 10 cannot pass the 0.8 bar (Clopper-Pearson lower bound 0.69)."""
    return SweepSpec("gaussian-cell", grid={"sampler": sampler_grid("temperature", (0.5, 0.7, 1.25, 1.6)), "base": ["under-dispersed", "over-dispersed"]},
                     seeds=scoring_seeds(preset, paper=30), fixed={"n_synthetic": 2000})


def _w_star_close(g) -> bool:
    ratio = g["result.w_star"] / g["result.best_w"]
    return bool(((ratio >= 0.5) & (ratio <= 2)).all())


def judge_w_star(frames: dict) -> Evidence:
    rows = ok_rows(frames["cells"])
    rule = SignCount(0.8, "fraction of seeds where w* is within 0.5-2x of the best w in every cell")
    test = rule.judge(per_seed(rows, _w_star_close))
    control = rule.judge(per_seed(rows.assign(**{"result.w_star": permuted(rows["result.w_star"], "w-star-gaussian")}), _w_star_close))
    ratio = rows["result.w_star"] / rows["result.best_w"]
    far = rows[~((ratio >= 0.5) & (ratio <= 2))]
    return Evidence(test, control, seeds=seed_list(rows),
                    condition="" if far.empty else "outside the band at " + listing(far, {"seed": "seed", "base": "base", "T": "T", "w*": "result.w_star",
                                                                                          "best w": "result.best_w"}),
                    notes=f"w* / best w from {ratio.min():.3g} to {ratio.max():.3g} (median {ratio.median():.3g}) over {len(rows)} cells; the exact NLL, "
                          "so no metric noise")


register_claim(Claim(
    name="w-star-gaussian",
    statement="The best merge weight is w* = -s/(αz), the minimiser of the quadratic proxy (α = lr × steps of the fine-tune).",
    source="Thm B.1",
    rule=SignCount(0.8, "fraction of seeds where w* is within 0.5-2x of the best w in every cell").rule(),
    control="the same rule with w* permuted over all cells (a seeded permutation), which must fail",
    sweeps={"cells": w_star_spec},
    judge=judge_w_star,
    figure="metric-vs-w",
    order=45,
))



#: the w at which the quadratic proxy's error is read (log-spaced, towards w → 0), fixed before the run
PROXY_WS = (0.001, 0.003, 0.01, 0.03, 0.1)
#: the band of log-log slopes that reads "the error is O(w³)"
CUBIC = (2.5, 3.5)


def proxy_spec(preset: str) -> SweepSpec:
    """The w-star cells with the exact NLL change and the quadratic proxy at :data:`PROXY_WS` (10 scoring seeds)."""
    spec = w_star_spec(preset)
    return SweepSpec(spec.experiment, grid=spec.grid, seeds=scoring_seeds(preset, paper=10), fixed={**spec.fixed, "proxy_ws": PROXY_WS})


def _error_slopes(rows, change: str, proxy) -> list[float]:
    """Per cell, the least-squares slope of log|change - proxy| on log w (``proxy(row)`` gives the proxy's values)."""
    import numpy as np

    out = []
    for _, r in rows.iterrows():
        err = np.abs(np.asarray(r[change], float) - np.asarray(proxy(r), float))
        ws = np.asarray(PROXY_WS)
        out.append(float(np.polyfit(np.log(ws), np.log(err), 1)[0]) if (err > 0).all() else float("nan"))
    return out


def judge_proxy(frames: dict) -> Evidence:
    rows = ok_rows(frames["cells"])
    rows = rows[rows["result.proxy_at_w"].notna()] if "result.proxy_at_w" in rows else rows.iloc[:0]
    rule = Universal(f"fraction of cells whose proxy error has a log-log slope in w within [{CUBIC[0]:g}, {CUBIC[1]:g}]")

    def cubic(slopes):
        return [CUBIC[0] <= v <= CUBIC[1] for v in slopes]

    realised = _error_slopes(rows, "result.change_at_w", lambda r: r["result.proxy_at_w"])
    first = _error_slopes(rows, "result.first_order_change_at_w", lambda r: r["result.proxy_at_w"])
    linear = _error_slopes(rows, "result.first_order_change_at_w", lambda r: [w * r["result.alpha"] * r["result.s"] for w in PROXY_WS])
    # along the straight line θ_r + wαP r_s the exact quadratic's error is O(w³) by Taylor's theorem whatever the
    # data: a calibration (s, z and the NLL agree), not a condition the claim could fail
    test, calibration, control = rule.judge(cubic(realised)), rule.judge(cubic(first)), rule.judge(cubic(linear))
    med = lambda v: float(pd.Series(v).median()) if v else float("nan")  # noqa: E731
    shown = rows.assign(slope=realised, step_cosine=rows.get("result.step_cosine"))
    bad = shown[[not c for c in cubic(realised)]]
    return Evidence(
        test, control, calibration=calibration, seeds=seed_list(rows),
        condition="" if test.outcome != "fail" else (
            "along the realised merge the proxy's error is O(w), not O(w³): the step's own O(α²) part (θ_s - θ_r is not exactly -αP r_s) "
            "enters the linear term (along -αP r_s itself the error is O(w³), the calibration); counterexample: "
            + listing(bad, {"seed": "seed", "base": "base", "T": "T", "slope": "slope", "cos(Δ, -P r_s)": "step_cosine"})),
        notes=f"median log-log slope of |exact change - proxy| in w over {len(rows)} cells: {med(realised):.2f} along the realised merge, "
              f"{med(first):.2f} along -αP r_s (the control, a first-order proxy along -αP r_s: {med(linear):.2f}); median cos(Δ, -P r_s) "
              f"{rows['result.step_cosine'].median():.4f}; w ∈ {list(PROXY_WS)}; the exact NLL, SGD (P = I, α = lr × steps = "
              f"{rows['result.alpha'].iloc[0] if len(rows) else float('nan'):g})",
    )


register_claim(Claim(
    name="proxy-order-gaussian",
    statement="R(θ_Neon(w)) = R(θ_r) + wαs + ½(wα)²z + O((wα)³): the quadratic proxy's error is third order in w.",
    source="Thm B.1",
    rule=Universal().rule() + f" (a cell holds when the log-log slope of |exact change - proxy| on w ∈ {list(PROXY_WS)} is within "
                              f"[{CUBIC[0]:g}, {CUBIC[1]:g}]), along the realised merge θ_Neon(w) = (1+w)θ_r - wθ_s",
    control="the same rule for a first-order proxy wαs along -αP r_s (its error is O(w²)), which must fail",
    calibration="the same rule along -αP r_s itself, where Taylor's theorem makes the error O(w³) (s, z and the exact NLL must agree)",
    sweeps={"cells": proxy_spec},
    judge=judge_proxy,
    figure="",
    test="tests/families/test_gaussian.py::test_the_quadratic_proxy_is_third_order_only_along_the_first_order_step",
    order=44,
))


#: the condition of sign-law-fit, fixed before the run from the theory: the MLE's Σ̂⁻¹ concentrates
#: above Σ*⁻¹ (E tr Σ̂⁻¹ = nD/(n-D-2)) once D is moderate
FIT_CONDITION_DIM = 5


def judge_sign_law_fit(frames: dict) -> Evidence:
    from .figures import sign_share

    rows = ok_rows(frames["cells"])
    rule = SignCount(0.8, "fraction of seeds with s < 0 (natural P) at T = 0.7, in the least favourable (fit, n, D)")
    sharp, flat = rows[rows["T"] < 1], rows[rows["T"] > 1]

    def each(part):
        return every(rule.judge((g["result.s_natural"] < 0).tolist()) for _, g in part.groupby(["fit", "n", "dim"]))

    test = each(sharp)
    conditional = each(sharp[(sharp.fit == "mle") & (sharp.dim >= FIT_CONDITION_DIM)])
    control = each(flat)
    share = sign_share(sharp)
    ident = sign_share(sharp, "result.s_identity")
    failing, undecided = share[share.hi < 0.8], share[(share.lo < 0.8) & (share.hi >= 0.8)]
    text = "; ".join(f"{r.fit}, n = {r.n}, D = {r.dim}: {r.share:.0%}" for r in failing.itertuples())
    if len(undecided):
        text += "; undecided at 30 seeds: " + "; ".join(f"{r.fit}, n = {r.n}, D = {r.dim}: {r.share:.0%}" for r in undecided.itertuples())
    return Evidence(
        test, control, conditional=conditional, seeds=seed_list(rows),
        condition="" if test.outcome != "fail" else (
            f"the base is the MLE and D ≥ {FIT_CONDITION_DIM} (fixed before the run); counterexample (share of seeds with s < 0): {text}"),
        notes="share of seeds with s < 0 at T = 0.7 (natural P; identity P in (μ, log-Cholesky) coordinates in brackets): "
              + "; ".join(f"{a.fit}, n = {a.n}, D = {a.dim}: {a.share:.0%} ({b.share:.0%})" for a, b in zip(share.itertuples(), ident.itertuples()))
              + ". The base's error direction: mean share of eigen-directions too sharp (variance below the truth's) "
              + "; ".join(f"{k}: {v:.2f}" for k, v in sharp.groupby("fit")["result.too_sharp_share"].mean().items())
              + ". smoothed adds 0.2·I to the MLE covariance (fixed beforehand); early-stopped is 10 Adam steps from N(0, 4I): the 10 was "
                "chosen after a look at seeds 100-119 at n = 50 (20 steps overshoot the MLE and leave the base too sharp), so that recipe's "
                "diffuse bases are by design, not a finding",
    )


register_claim(Claim(
    name="sign-law-fit-gaussian",
    statement="A mode-seeking sampler (T < 1) makes s < 0 for a base fitted to data, whatever the dimension, training-set size or fitting recipe.",
    source="Thm 2 / Lemma B.6 (a base near θ*, as fitted in practice)",
    rule=SignCount(0.8, "fraction of seeds with s < 0").rule() + " at T = 0.7 in every (fit, n, D) group (natural P)",
    control="the same rule at the diversity-seeking T = 1.43, which must fail",
    sweeps={"cells": fit_spec},
    judge=judge_sign_law_fit,
    figure="sign-vs-fit",
    test="tests/families/test_gaussian.py::test_how_the_base_was_fit_decides_the_sign_at_a_sharpening_temperature",
    order=21,
))


#: |S| of the U-shape's three points: the smallest, the middle and the largest size of gain-vs-size's grid
U_SIZES = (10, 300, 30000)
#: the U-shape's rule was fixed after a look at seeds 100-109 (gain-vs-size at the paper sizes): it is scored on fresh seeds
U_FIRST_SEED = 130


def u_shape_spec(preset: str) -> SweepSpec:
    """The exact Gaussian at T = 0.5 (the gain-vs-size cells), at the U-shape's three sizes; 30 seeds from 130 (2 at smoke)."""
    n = len(scoring_seeds(preset, paper=30))
    return SweepSpec("gaussian-cell", grid={"n_synthetic": list(U_SIZES)}, seeds=tuple(range(U_FIRST_SEED, U_FIRST_SEED + n)),
                     fixed={"sampler": "temperature=0.5"})


def _arms(rows: pd.DataFrame, column: str) -> tuple[list, list]:
    """Per seed, (value at the middle |S| − at the smallest, value at the middle − at the largest)."""
    wide = rows.pivot_table(index="seed", columns="n_synthetic", values=column).dropna()
    small, mid, large = (wide[n] for n in U_SIZES)
    return (mid - small).tolist(), (mid - large).tolist()


def judge_u_shape(frames: dict) -> Evidence:
    rows = ok_rows(frames["cells"])
    rule = MeanIn(0, float("inf"), "mean over seeds of the gain at the middle |S| minus the gain at an end, in the less favourable arm")
    left, right = (rule.judge(arm) for arm in _arms(rows, "result.gain"))
    test = every([left, right])
    control = every([rule.judge(a) for a in _arms(rows, "result.s")])  # s is exact and does not depend on S: no U, the rule must fail
    means = rows.groupby("n_synthetic")["result.gain"].mean()
    return Evidence(
        test, control, seeds=seed_list(rows),
        condition="" if test.outcome != "fail" else (
            "the gain does not fall at large |S| (the right arm): it rises to its population value and stays"
            if right.outcome == "fail" else "the gain does not rise from the smallest |S| (the left arm)"),
        notes=(f"gain in the exact NLL at the best w, mean over seeds, at |S| = {', '.join(f'{n}: {means.get(n, math.nan):.4g}' for n in U_SIZES)}; "
               f"left arm (middle minus smallest) {left.text()}, right arm (middle minus largest) {right.text()}. "
               f"The rule was fixed after a look at seeds 100-109, so it is scored on seeds from {U_FIRST_SEED}. The AR toy's arm of "
               "gain-vs-size is not judged yet"),
    )


register_claim(Claim(
    name="u-shape-size-gaussian",
    statement="The gain of Neon is U-shaped in |S|: it rises from small |S| (variance) and falls again at large |S| (curvature alignment).",
    source="App. B.10 (finite |S|; heuristic)",
    rule="the 95% t-intervals over seeds of the paired differences gain(|S| = 300) - gain(10) and gain(300) - gain(30000) both lie above 0 "
         "(the exact NLL's gain at the best w, T = 0.5)",
    control="a check of the rule: the same differences of s, which is exact and does not depend on S, must fail",
    sweeps={"cells": u_shape_spec},
    judge=judge_u_shape,
    figure="gain-vs-size",
    test="tests/families/test_gaussian.py::test_the_gain_at_the_best_w_does_not_fall_at_large_sizes",
    order=45,
))
