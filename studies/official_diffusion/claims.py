"""The official diffusion toy's claims: does the sign of s predict the best w on the FD?"""

from __future__ import annotations

import dataclasses

from neon_theory.run.claims import Claim, Evidence, SignCount, register_claim
from neon_theory.run.sweeps import SweepSpec

from ..presets import sampler_grid
from ..scoring import ok_rows, scoring_seeds, sign_agreement
from .toy import DiffusionToyConfig


def best_w_spec(preset: str) -> SweepSpec:
    """s (the variance-reduced estimator) and Brent's best w on the FD at the official ζ and budgets; 30 scoring seeds at the paper sizes."""
    toy = DiffusionToyConfig.preset(preset)
    return SweepSpec("diffusion-cell", grid={"sampler": sampler_grid("score-scale", toy.zetas), "ft_steps": toy.ft_steps},
                     seeds=scoring_seeds(preset, paper=30), fixed={"preset": preset, "cosine": True, "best_w": True})


def judge_best_w_sign(frames: dict) -> Evidence:
    rows = ok_rows(frames["cells"])
    e = sign_agreement(rows, "best-w-sign-diffusion-fd", ["zeta", "ft_steps"])
    positive = rows[rows.zeta > 1]
    share = (positive["result.best_w"] > 0).mean() if len(positive) else float("nan")
    s_neg = (positive["result.s"] < 0).mean() if len(positive) else float("nan")
    return dataclasses.replace(e, notes=f"at ζ > 1 the best w on FD is positive in {share:.0%} of cells while s < 0 in {s_neg:.0%}; "
                                        "s by the variance-reduced estimator (its SE in the records)")


register_claim(Claim(
    name="best-w-sign-diffusion-fd",
    statement="On the official diffusion toy the sign of s predicts the sign of the best w on the sample metric (FD): Neon helps where s < 0.",
    source="Thm B.1 with Thm 2 (the toy notebook's experiments 1 and 2)",
    rule=SignCount(0.8, "fraction of seeds where it holds in every (ζ, budget) cell").rule(),
    control="the same rule with a seeded fair coin in place of -sign(s)",
    sweeps={"cells": best_w_spec},
    judge=judge_best_w_sign,
    figure="official-diffusion",
    order=60,
))
