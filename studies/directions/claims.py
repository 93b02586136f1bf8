"""The direction study's claims: is the self-training needed, or does a cheaper direction merge as well?

Each cell merges θ_r − w·d along five directions (:data:`neon_theory.directions.DIRECTION_ARMS`),
each scaled to the fine-tuning step's norm, with Brent's best w on the population loss (the risk the
theory is about; on images, the held-out split's loss) along each: the step Δ = θ_s − θ_r, Thm B.1's −αP r_s (no fine-tuning), one
optimizer step on all of S at the budget's summed learning rate, and two independent random
directions (the second is the first's control).  Per family
(the exact Gaussian, the two official toys, the three image families), three claims on the loss's gain over the base:

- ``direction-step-beats-random-F``: the step gains at least twice what a random direction does;
- ``direction-step-beats-first-order-F``: the step gains more than −αP r_s (the issue's prediction
  from the first-order domain: −αP r_s fails at the merge scale);
- ``direction-one-step-F``: one optimizer step on all of S reaches at least half the step's gain.

The unit is a seed (its cells share a base); 30 scoring seeds at a bar of 0.8 on the Gaussian and the toys.
The image families (8×8 digits, the reduced cells) are scored on the held-out loss only, at the family's
mode-seeking setting (guidance 3, T = 0.7), on 10 seeds at the image claims' bar of 0.5: the FID of five
searches a cell does not fit a CPU run.  The notes give the cosines between the directions, their norms
before scaling, the gains on the sample metric (where there is one) and the compute.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

from neon_theory.run.claims import Claim, Evidence, SignCount, register_claim
from neon_theory.run.sweeps import SweepSpec

from ..presets import sampler_grid
from ..scoring import beats, listing, ok_rows, per_seed, scoring_seeds, seed_list

BAR = 0.8


def gaussian_spec(preset: str) -> SweepSpec:
    """Both demo bases at T = 0.5 and 2 (exact NLL; SGD, so P = I and −αr_s is exact), 30 scoring seeds."""
    return SweepSpec("gaussian-cell", grid={"base": ["under-dispersed", "over-dispersed"], "sampler": sampler_grid("temperature", (0.5, 2.0))},
                     seeds=scoring_seeds(preset, paper=30), fixed={"directions": True})


def ar_spec(preset: str) -> SweepSpec:
    """The official AR toy at its published τ and first budget (Adam; P and r_s exact by quadrature), 30 scoring seeds (1 at smoke)."""
    from ..official_ar.toy import ARToyConfig

    toy = ARToyConfig.preset(preset)
    return SweepSpec("ar-cell", grid={"sampler": sampler_grid("std-temperature", toy.taus)}, seeds=scoring_seeds(preset, paper=30, smoke=1),
                     fixed={"preset": preset, "cosine": False, "best_w": False, "directions": True, "ft_epochs": toy.ft_epochs[0]})


def diffusion_spec(preset: str) -> SweepSpec:
    """The official diffusion toy at its published ζ and first budget (full-batch Adam; the probe's P and r_s), 30 scoring seeds (1 at smoke)."""
    from ..official_diffusion.toy import DiffusionToyConfig

    toy = DiffusionToyConfig.preset(preset)
    return SweepSpec("diffusion-cell", grid={"sampler": sampler_grid("score-scale", toy.zetas)}, seeds=scoring_seeds(preset, paper=30, smoke=1),
                     fixed={"preset": preset, "cosine": False, "directions": True, "ft_steps": toy.ft_steps[0]})


def image_spec(family: str, preset: str) -> SweepSpec:
    """An image family's cells at its mode-seeking setting (8×8 digits, the image claims' preset), 10 scoring seeds (1 at smoke)."""
    from ..images.family import IMAGE_FAMILIES
    from ..images.figures import SCORING_IMAGE_PRESET

    neon = IMAGE_FAMILIES[family].neon
    mode_seeking = (neon.smoke if preset == "smoke" else neon.full)[:1]
    return SweepSpec("image-cell", grid={"sampler": sampler_grid(neon.name, mode_seeking)}, seeds=scoring_seeds(preset, paper=10, smoke=1),
                     fixed={"family": family, "preset": SCORING_IMAGE_PRESET.get(preset, preset), "directions": True, "size": 8})


@dataclass(frozen=True)
class DirectionFamily:
    """A family's cells: its words, its sweep, its loss (the record's metric name and words), its sample metric, if any, and its bar."""

    words: str
    spec: Callable
    loss: tuple
    metric: tuple | None = None
    bar: float = BAR


FAMILIES = {
    "gaussian": DirectionFamily("the exact Gaussian (the demo's two bases, SGD)", gaussian_spec, ("nll", "the exact population NLL")),
    "ar": DirectionFamily("the official AR toy (Adam)", ar_spec, ("loss", "the population NLL"), ("fd", "the FD")),
    "diffusion": DirectionFamily("the official diffusion toy (full-batch Adam)", diffusion_spec, ("loss", "the population denoising loss"), ("fd", "the FD")),
    **{f"images-{f}": DirectionFamily(f"images ({f}, 8×8 digits, Adam, the mode-seeking setting)", functools.partial(image_spec, f),
                                      ("loss", "the held-out loss"), bar=0.5) for f in ("diffusion", "flow", "pixel-ar")},
}

#: each claim: (the arm tested, the arm it is compared with, the factor: test when gain(arm) > factor · gain(other), or ≥ for factor < 1)
RULES = {
    "step-beats-random": ("step", "random", 2.0),
    "step-beats-first-order": ("step", "first_order", 1.0),
    "one-step": ("one_step", "step", 0.5),
}
#: each claim's control: the same rule with a random direction in the tested arm's place, which must fail (for
#: step-beats-random, a second, independent random direction against the first)
CONTROLS = {"step-beats-random": ("random_2", "random"), "step-beats-first-order": ("random", "first_order"), "one-step": ("random", "step")}


def _notes(rows, fam: DirectionFamily) -> str:
    if not len(rows):
        return ""
    m = fam.loss[0]
    parts = []
    for arm in ("step", "first_order", "one_step", "random", "random_2"):
        gain = rows[f"result.dir_{arm}_gain_{m}"]
        share = (gain / rows[f"result.dir_step_gain_{m}"]).median()
        cos = rows[f"result.dir_{arm}_cosine"].median()
        ratio = rows[f"result.dir_{arm}_norm_ratio"].median()
        text = f"{arm.replace('_', '-')}: median gain {share:.2g}× the step's, cosine to the step {cos:+.2f}, norm {ratio:.3g}× the step's"
        if fam.metric is not None:
            mm = fam.metric[0]
            text += f", on {fam.metric[1]} {(rows[f'result.dir_{arm}_gain_{mm}'] / rows[f'result.dir_step_gain_{mm}']).median():.2g}× the step's gain"
        compute = rows.get(f"result.dir_{arm}_compute")
        if compute is not None and compute.notna().any():
            text += f", {compute.median():.3g} per-example gradients"
        parts.append(text)
    edge = sum(int(rows[f"result.dir_{a}_at_boundary_{m}"].fillna(False).astype(bool).sum()) for a in ("step", "first_order", "one_step", "random", "random_2"))
    return "; ".join(parts) + f"; {edge} searches with the best w at the bracket's edge (medians over {len(rows)} cells)"


def judge(frames: dict, *, family: str, claim: str) -> Evidence:
    fam = FAMILIES[family]
    rows = ok_rows(frames["cells"])
    m, words = fam.loss
    arm, other, factor = RULES[claim]
    what = f"gain on {words} along {arm.replace('_', '-')} {'>' if factor >= 1 else '≥'} {factor:g} × that along {other.replace('_', '-')}"
    rule = SignCount(fam.bar, f"fraction of seeds where the {what} in every cell")

    def law(a: str, b: str):
        return lambda g: all(beats(x, y, factor) for x, y in zip(g[f"result.dir_{a}_gain_{m}"], g[f"result.dir_{b}_gain_{m}"]))

    test = rule.judge(per_seed(rows, law(arm, other)))
    control = rule.judge(per_seed(rows, law(*CONTROLS[claim])))
    failing = rows[[not beats(x, y, factor) for x, y in zip(rows[f"result.dir_{arm}_gain_{m}"], rows[f"result.dir_{other}_gain_{m}"])]] \
        if len(rows) else rows
    shown = {"seed": "seed", "sampler": "sampler", arm: f"result.dir_{arm}_gain_{m}", other: f"result.dir_{other}_gain_{m}"}
    condition = "" if test.outcome != "fail" or failing.empty else "fails at " + listing(failing, shown)
    return Evidence(test, control, seeds=seed_list(rows), condition=condition, notes=_notes(rows, fam))


STATEMENTS = {
    "step-beats-random": "the fine-tuning step gains at least twice what a random direction of its norm gains on {loss}, at each's best w",
    "step-beats-first-order": "the fine-tuning step gains more on {loss} than Thm B.1's −αP r_s (no fine-tuning), at each's best w",
    "one-step": "one optimizer step on all of S at the budget's summed learning rate gains at least half what the fine-tuning step gains "
                "on {loss}, at each's best w",
}
CONTROL_WORDS = {
    "step-beats-random": "the same rule with a second, independent random direction of the step's norm in the step's place, which must fail",
    "step-beats-first-order": "the same rule with the random direction in the step's place (random against −αP r_s), which must fail",
    "one-step": "the same rule with the random direction in the one step's place, which must fail",
}
_SOURCE = "this toolkit's question beyond the paper (the paper leaves the direction without self-training open); Thm B.1's first-order reading"
for _name, _fam in FAMILIES.items():
    for _claim, _words in STATEMENTS.items():
        register_claim(Claim(
            name=f"direction-{_claim}-{_name}",
            statement=f"On {_fam.words}, " + _words.format(loss=_fam.loss[1]) + f", in every cell of {_fam.bar:.0%} of seeds.",
            source=_SOURCE,
            rule=SignCount(_fam.bar, "fraction of seeds where it holds in every cell").rule(),
            control=CONTROL_WORDS[_claim],
            sweeps={"cells": _fam.spec},
            judge=functools.partial(judge, family=_name, claim=_claim),
            order=95,
        ))
