"""The image families' claims: does the sign of s predict the best w, on the held-out loss and on FID?"""

from __future__ import annotations

import dataclasses
import functools

from neon_theory.run.claims import Claim, Evidence, SignCount, register_claim
from neon_theory.run.sweeps import SweepSpec

from ..presets import sampler_grid
from ..scoring import ok_rows, scoring_seeds, sign_agreement
from . import families  # noqa: F401  (registers the built-in families)
from .family import IMAGE_FAMILIES

#: what each metric's claim reads from an image cell
METRICS = {"loss": ("result.best_w_loss", "the held-out loss"), "fid": ("result.best_w_fid", "FID against the held-out images")}


#: the image preset each scorecard preset runs: the image cells' ``paper`` sizes are GPU sizes, so the
#: scorecard's ``paper`` runs the CPU-sized ``reduced`` image cells (trained models; minutes per cell on 2 cores)
IMAGE_PRESET = {"smoke": "smoke", "reduced": "reduced", "paper": "reduced"}


def neon_spec(family: str, preset: str) -> SweepSpec:
    """Brent's best w on both metrics at the family's mode- and diversity-seeking settings (8×8 digits), 10 scoring seeds beyond smoke."""
    neon = IMAGE_FAMILIES[family].neon
    return SweepSpec("image-cell", grid={"sampler": sampler_grid(neon.name, neon.smoke if preset == "smoke" else neon.full)},
                     seeds=scoring_seeds(preset, paper=10), fixed={"family": family, "preset": IMAGE_PRESET.get(preset, preset), "best_w": True})


def judge(frames: dict, *, family: str, metric: str) -> Evidence:
    rows = ok_rows(frames["cells"])
    best, what = METRICS[metric]
    e = sign_agreement(rows, f"best-w-sign-images-{family}-{metric}", ["sampler"], best=best, metric=what)
    notes = ""
    if metric == "fid" and "result.fid_floor" in rows:
        above = (rows["result.base_fid"] - rows["result.fid_floor"]) / (rows["result.base_fid_se"] ** 2 + rows["result.fid_floor_se"] ** 2) ** 0.5
        notes = (f"base FID {rows['result.base_fid'].mean():.3g} (mean), floor {rows['result.fid_floor'].mean():.3g} ± "
                 f"{rows['result.fid_floor_se'].mean():.2g}; base above the floor by {above.median():.1f} SE (median)")
    sizes = f"image preset {rows['preset'].iloc[0]} (8×8 digits)" if len(rows) else ""
    return dataclasses.replace(e, notes="; ".join(x for x in (sizes, notes) if x))


for _family in IMAGE_FAMILIES:
    for _metric, (_, _what) in METRICS.items():
        register_claim(Claim(
            name=f"best-w-sign-images-{_family}-{_metric}",
            statement=f"On images ({_family}, 8×8 digits), the sign of s predicts the sign of the best w on {_what}.",
            source="Thm B.1 with Thm 2, carried to image models",
            rule=SignCount(0.8, "fraction of seeds where it holds at both settings").rule(),
            control="the same rule with a seeded fair coin in place of -sign(s)",
            sweeps={"cells": functools.partial(neon_spec, _family)},
            judge=functools.partial(judge, family=_family, metric=_metric),
            figure="images-neon",
            order=70 if _metric == "loss" else 71,
        ))
