"""The image figures, registered with the run layer (an entry point): the Neon theory on real images.

* ``images-cosine``: the P-cosine (Adam P) of r_d (held-out digits) and r_s vs each family's
  sampler knob, mean over seeds with a 95% t-band;
* ``images-neon``: per family, Brent's best w on the held-out loss and on FID next to the
  predicted w* = −s/(αz) at a mode-seeking and a diversity-seeking setting, then FID,
  precision and recall of θ_Neon(w) samples vs w.

:func:`sign_agreement` is the table behind the claim "the sign of s predicts the sign of
the best w": per family and metric, how many (setting, seed) cells have sign(best w) = −sign(s).
"""

# neon-theory: presentation-only

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from neon_theory.run.figures import register_figure
from neon_theory.run.plots import caption, explode_w, line, require_columns, seeds_name, zero_lines
from neon_theory.run.sweeps import SweepSpec

from ..drawing import knob_axis

#: (family, knob) → (smoke grid, reduced/paper grid) of the P-cosine sweeps
COSINE_GRIDS = {
    ("diffusion", "guidance"): ((1.0, 3.0), (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)),
    ("diffusion", "steps"): ((2, 8), (1, 2, 3, 5, 10, 20, 50)),
    ("flow", "guidance"): ((1.0, 3.0), (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)),
    ("flow", "steps"): ((2, 8), (1, 2, 3, 5, 10, 20, 50)),
    ("pixel-ar", "temperature"): ((0.7, 1.3), (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5)),
    ("pixel-ar", "top_k"): ((1, 4), (1, 2, 3, 4)),
    ("pixel-ar", "top_p"): ((0.6, 1.0), (0.5, 0.7, 0.8, 0.9, 0.95, 1.0)),
}
#: the neutral value of each knob (None: no neutral value, e.g. a step count)
NEUTRAL = {"guidance": None, "steps": None, "temperature": 1.0, "top_k": None, "top_p": 1.0}  # γ = 1 on a finite grid is not neutral
KNOB_LABEL = {"guidance": "guidance γ", "steps": "sampler steps", "temperature": "temperature T", "top_k": "top-k", "top_p": "top-p"}
#: per family: the knob and its (mode-seeking, diversity-seeking) settings of the best-w cells
NEON_SETTINGS = {"diffusion": ("guidance", (3.0, 0.5)), "flow": ("guidance", (3.0, 0.5)), "pixel-ar": ("temperature", (0.7, 1.3))}


def preset_seeds(preset: str) -> tuple:
    """One seed at smoke size (CI), four at ``reduced`` (a CPU session), five at ``paper`` (a GPU)."""
    return {"smoke": (0,), "reduced": (0, 1, 2, 3)}.get(preset, tuple(range(5)))


def image_cosine_spec(family: str, knob: str, preset: str) -> SweepSpec:
    smoke, full = COSINE_GRIDS[(family, knob)]
    return SweepSpec("image-cell", grid={"value": list(smoke if preset == "smoke" else full)}, seeds=preset_seeds(preset),
                     fixed={"family": family, "knob": knob, "preset": preset})


def image_neon_spec(family: str, preset: str) -> SweepSpec:
    knob, values = NEON_SETTINGS[family]
    ws = (-1.0, 0.0, 1.0) if preset == "smoke" else tuple(float(w) for w in np.round(np.linspace(-2, 2, 9), 6))
    return SweepSpec("image-cell", grid={"value": list(values)}, seeds=preset_seeds(preset),
                     fixed={"family": family, "knob": knob, "preset": preset, "best_w": True, "w_values": ws})


def sign_agreement(frames: dict) -> pd.DataFrame:
    """Per family and metric (held-out loss, FID): ``cells``; ``agree``, how many have sign(best w) = −sign(s);
    ``clear_cells``, how many have |s| > 2 SE and a best w inside the bracket; ``clear_agree``, how
    many of the clear cells agree."""
    rows = []
    for family, df in frames.items():
        ok = df[df["status"] == "ok"]
        for metric in ("loss", "fid"):
            col = f"result.best_w_{metric}"
            require_columns(ok, [col, "result.s", "result.s_se"])
            agree = np.sign(ok[col]) == -np.sign(ok["result.s"])
            clear = (ok["result.s"].abs() > 2 * ok["result.s_se"]) & ~ok[f"result.at_boundary_{metric}"].astype(bool)
            rows.append({"family": family, "metric": metric, "cells": len(ok), "agree": int(agree.sum()),
                         "clear_cells": int(clear.sum()), "clear_agree": int((agree & clear).sum())})
    return pd.DataFrame(rows)


def _data_label(frames: dict) -> str:
    """The image set the frames were run on (a fixed ``data``/``size`` column, else the default digits at 8×8)."""
    df = next(iter(frames.values()))
    data = df["data"].iloc[0] if "data" in df else "digits"
    size = int(df["size"].iloc[0]) if "size" in df else 8
    return f"{data} {size}×{size}"


def _draw_cosine(frames: dict):
    fig, axes = plt.subplots(2, 4, figsize=(15, 6.4), squeeze=False)
    present = [(k, frames[f"{k[0]}/{k[1]}"]) for k in COSINE_GRIDS if f"{k[0]}/{k[1]}" in frames]  # a set too long for pixel-ar has none
    for ax in axes.flat[len(present):]:
        ax.set_visible(False)
    for ax, ((family, knob), df) in zip(axes.flat, present):
        line(knob_axis(df, knob), x=knob, y="result.cosine", ax=ax, name=seeds_name(df), logx=knob == "steps",
             xlabel=KNOB_LABEL[knob], ylabel="P-cosine (Adam P)", neutral=NEUTRAL[knob], bounds=(-1, 1))
        zero_lines(ax, NEUTRAL[knob])
        ax.set_title(f"{family}: {KNOB_LABEL[knob]}", fontsize=9)
        ax.legend(fontsize=6)
    fig.suptitle(f"{_data_label(frames)}: P-cosine of r_d (held-out) and r_s vs sampler sharpness ({caption(*(df for _, df in present))})", fontsize=9)
    fig.tight_layout()
    return fig


def _draw_neon(frames: dict):
    fams = [f for f in NEON_SETTINGS if f in frames]
    fig, axes = plt.subplots(4, len(fams), figsize=(4.4 * len(fams), 12), squeeze=False)
    table = sign_agreement({f: frames[f] for f in fams})
    for j, family in enumerate(fams):
        df = frames[family]
        knob = NEON_SETTINGS[family][0]
        ok = df[df["status"] == "ok"]
        ax = axes[0, j]
        for k, (col, name) in enumerate((("result.best_w_loss", "best w, held-out loss"), ("result.best_w_fid", "best w, FID"),
                                         ("result.w_star", "predicted w* = −s/(αz)"), ("result.w_star_displacement", "w* of the step Δ = θ_s − θ_r"))):
            x = ok["value"].astype(float) * (1 + 0.04 * (k - 1.5))  # side by side
            ax.scatter(x, ok[col], s=14, label=name, color=f"C{k}")
        zero_lines(ax, NEUTRAL[knob])
        ax.set_xlabel(KNOB_LABEL[knob])
        ax.set_ylabel("w (one point per seed)")
        t = table[table.family == family].set_index("metric")
        ax.set_title(f"{family}: sign(best w) = −sign(s) in {t.loc['loss', 'agree']}/{t.loc['loss', 'cells']} (loss), "
                     f"{t.loc['fid', 'agree']}/{t.loc['fid', 'cells']} (FID)", fontsize=8)
        ax.legend(fontsize=6)
        long = knob_axis(explode_w(df, ["result.fid_at_w", "result.precision_at_w", "result.recall_at_w", "result.loss_at_w"]), knob)
        for i, (col, name) in enumerate((("result.loss_at_w", "held-out loss"), ("result.fid_at_w", "FID (own features)")), start=1):
            line(long, x="w", y=col, hue=knob, ax=axes[i, j], marker=".", ylabel=name)
            axes[i, j].axvline(0, color="k", lw=0.7)  # the base model
            axes[i, j].legend(title=KNOB_LABEL[knob], fontsize=6, title_fontsize=6)
        pr = long.melt(id_vars=["w", knob, "seed"], value_vars=["result.precision_at_w", "result.recall_at_w"], var_name="metric", value_name="score")
        pr["metric"] = pr["metric"].map({"result.precision_at_w": "precision", "result.recall_at_w": "recall"})
        line(pr, x="w", y="score", hue=knob, style="metric", ax=axes[3, j], marker=".", ylabel="prdc precision / recall (k = 5)")
        axes[3, j].axvline(0, color="k", lw=0.7)
        axes[3, j].legend(fontsize=6, title=f"{KNOB_LABEL[knob]} / metric", title_fontsize=6)
    fig.suptitle(f"Neon on {_data_label(frames)}: best w vs s (one point per seed), and the metrics of θ_Neon(w) "
                 f"({caption(*(frames[f] for f in fams))})", fontsize=9)
    fig.tight_layout()
    return fig


register_figure(
    "images-cosine",
    "digits: the P-cosine (Adam P) vs each image family's sampler knob (UNet diffusion, UNet flow, pixel transformer)",
    {f"{f}/{k}": (lambda p, f=f, k=k: image_cosine_spec(f, k, p)) for f, k in COSINE_GRIDS},
    _draw_cosine,
)
register_figure(
    "images-neon",
    "digits: best w on the held-out loss and on FID vs the sign of s, and FID / precision / recall vs w, per image family",
    {f: (lambda p, f=f: image_neon_spec(f, p)) for f in NEON_SETTINGS},
    _draw_neon,
)
