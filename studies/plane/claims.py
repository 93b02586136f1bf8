"""The Fig. 2 plane's claim: does the Neon direction do as well as 4× more real data?"""

from __future__ import annotations

import dataclasses

from neon_theory.run.claims import Claim, Evidence, SignCount, register_claim

from ..scoring import listing, ok_rows, scoring_seeds, seed_list
from .figures import plane_spec


def claim_spec(preset: str):
    """The plane (AR toy, τ = 0.5, 50 epochs) on 10 scoring seeds."""
    return dataclasses.replace(plane_spec(preset), seeds=scoring_seeds(preset, paper=10))


def judge_plane(frames: dict) -> Evidence:
    rows = ok_rows(frames["plane"])
    rule = SignCount(0.5, "fraction of seeds where the best log10 W2 on the Neon axis is at least as low as on the 4x-real-data axis")
    test = rule.judge(rows["result.neon_matches_real"].astype(bool).tolist())
    control = rule.judge((rows["result.base"] <= rows["result.real_axis_best"]).tolist())  # the base itself, no step at all
    worse = rows[~rows["result.neon_matches_real"].astype(bool)]
    gap = (rows["result.neon_axis_best"] - rows["result.real_axis_best"]).median() if len(rows) else float("nan")
    return Evidence(
        test, control, seeds=seed_list(rows),
        condition="" if test.outcome != "fail" else "the real-data axis reaches a lower W2 at " + listing(
            worse, {"seed": "seed", "Neon axis best": "result.neon_axis_best", "real axis best": "result.real_axis_best", "base": "result.base"}),
        notes=f"log10 W2 (Gaussian W2 on the AR toy's samples); median (Neon axis best - real axis best) {gap:+.3g}; the Neon axis improves on the "
              f"base in {(rows['result.neon_axis_best'] < rows['result.base']).mean():.0%} of seeds",
    )


register_claim(Claim(
    name="neon-vs-real-plane",
    statement="Fig. 2: on the AR toy, moving along the Neon direction does as well as fine-tuning on 4x more real data (the Neon axis "
              "reaches the real-data axis's best W2).",
    source="Fig. 2 (the w_s, w_o plane)",
    rule=SignCount(0.5, "fraction of seeds where the Neon axis reaches the real-data axis's best").rule(),
    control="the same rule for the base model itself (no step) against the real-data axis's best, which must fail",
    sweeps={"plane": claim_spec},
    judge=judge_plane,
    figure="plane",
    test="tests/studies/test_counterexamples.py::test_the_neon_axis_falls_short_of_four_times_more_real_data",
    order=55,
))
