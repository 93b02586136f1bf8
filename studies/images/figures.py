"""The image figures, registered with the run layer (an entry point): the Neon theory on real images.

* ``images-cosine``: the P-cosine (Adam P) of r_d (held-out digits) and r_s vs each sampler
  each family sweeps (its :attr:`~studies.images.family.ImageFamily.sweeps`), mean over seeds
  with a 95% t-band;
* ``images-neon``: per family, Brent's best w on the held-out loss and on FID next to the
  predicted w* = −s/(αz) at a mode-seeking and a diversity-seeking setting (the family's
  :attr:`~studies.images.family.ImageFamily.neon`), then FID, precision and recall of θ_Neon(w)
  samples vs w.

Both read the families from :data:`~studies.images.family.IMAGE_FAMILIES` as registered when this
module is imported, and plot each sampler by its records column (``guidance``, ``steps``, ``T``,
``top_k``, ``top_p``: :func:`~neon_theory.sampler_text.sampler_columns`).

:func:`sign_agreement` is the table behind the claim "the sign of s predicts the sign of
the best w": per family and metric, how many (setting, seed) cells have sign(best w) = −sign(s).
"""

from __future__ import annotations

import dataclasses
import functools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from neon_theory.run.figures import register_figure
from neon_theory.run.plots import caption, colours_for, explode_w, hue_levels, level_name, line, n_seeds, require_columns, seeds_name, zero_lines
from neon_theory.run.sweeps import SweepSpec
from neon_theory.sampler_text import SAMPLER_NAMES

from ..presets import sampler_grid
from . import families  # noqa: F401  (registers the built-in families)
from .family import IMAGE_FAMILIES, SamplerSweep


def column(sweep: SamplerSweep) -> str:
    """The records column a sweep's sampler values are in (``T`` for ``temperature``, ``top_k`` for ``top-k``)."""
    return SAMPLER_NAMES[sweep.name].column


def label(sweep: SamplerSweep) -> str:
    """The axis label of a sweep's sampler (the text syntax's own: ``γ (guidance)``, ``k (top-k)``)."""
    return SAMPLER_NAMES[sweep.name].label or sweep.name


def preset_seeds(preset: str) -> tuple:
    """One seed at smoke size (CI), four at ``reduced`` (a CPU session), five at ``paper`` (a GPU)."""
    return {"smoke": (0,), "reduced": (0, 1, 2, 3)}.get(preset, tuple(range(5)))


def _sweep(family: str, name: str) -> SamplerSweep:
    return next(s for s in IMAGE_FAMILIES[family].sweeps if s.name == name)


def image_cosine_spec(family: str, name: str, preset: str) -> SweepSpec:
    """The P-cosine sweep of ``family`` over its sampler ``name`` (a name of its ``sweeps``)."""
    sweep = _sweep(family, name)
    return SweepSpec("image-cell", grid={"sampler": sampler_grid(name, sweep.smoke if preset == "smoke" else sweep.full)},
                     seeds=preset_seeds(preset), fixed={"family": family, "preset": preset})


def image_neon_spec(family: str, preset: str) -> SweepSpec:
    """The best-w cells of ``family`` at its mode- and diversity-seeking settings."""
    neon = IMAGE_FAMILIES[family].neon
    ws = (-1.0, 0.0, 1.0) if preset == "smoke" else tuple(float(w) for w in np.round(np.linspace(-2, 2, 9), 6))
    return SweepSpec("image-cell", grid={"sampler": sampler_grid(neon.name, neon.smoke if preset == "smoke" else neon.full)},
                     seeds=preset_seeds(preset), fixed={"family": family, "preset": preset, "best_w": True, "w_values": ws})


#: the image preset each scorecard preset runs: the image cells' ``paper`` sizes are GPU sizes, so the
#: scorecard's ``paper`` runs the CPU-sized ``reduced`` image cells (trained models; minutes per cell on 2 cores)
SCORING_IMAGE_PRESET = {"smoke": "smoke", "reduced": "reduced", "paper": "reduced"}


#: the digit sizes the image claims are scored at (the 8×8 originals and the larger 16×16 set, bilinear), each with
#: the families scored there.  pixel-ar is left out at 16×16: its transformer samples 256 tokens one at a time, and
#: one reduced cell ran past 25 min on one core (diffusion and flow: 2-5 min), too long for the CPU scoring run
SCORED_SIZES = {8: tuple(IMAGE_FAMILIES), 16: ("diffusion", "flow")}


def best_w_figure(size: int) -> str:
    """The name of the figure of the image claims' cells at ``size`` (``images-best-w`` at 8×8, ``images-best-w-16``)."""
    return "images-best-w" + ("" if size == 8 else f"-{size}")


def scoring_spec(family: str, preset: str, size: int = 8) -> SweepSpec:
    """The image claims' cells: Brent's best w on both metrics and w without a metric search (``auto_w``, read by
    the auto-w study) at the family's mode- and diversity-seeking settings (``size``×``size`` digits), on the
    scoring seeds (1 at smoke, 10 otherwise), at :data:`SCORING_IMAGE_PRESET`."""
    from ..scoring import scoring_seeds

    neon = IMAGE_FAMILIES[family].neon
    return SweepSpec("image-cell", grid={"sampler": sampler_grid(neon.name, neon.smoke if preset == "smoke" else neon.full)},
                     seeds=scoring_seeds(preset, paper=10, smoke=1),
                     fixed={"family": family, "preset": SCORING_IMAGE_PRESET.get(preset, preset), "best_w": True, "auto_w": True, "size": size})


def sharpness_spec(family: str, preset: str) -> SweepSpec:
    """s and the P-cosine (no fine-tuning) along the family's first sampler sweep (guidance at 10 steps, or
    temperature), 8×8 digits, on the scoring seeds at :data:`SCORING_IMAGE_PRESET`: a few seconds a cell once a
    seed's base is trained (the claims cosine-vs-sharpness-images-*)."""
    from ..scoring import scoring_seeds

    sweep = IMAGE_FAMILIES[family].sweeps[0]
    return SweepSpec("image-cell", grid={"sampler": sampler_grid(sweep.name, sweep.smoke if preset == "smoke" else sweep.full)},
                     seeds=scoring_seeds(preset, paper=10, smoke=1), fixed={"family": family, "preset": SCORING_IMAGE_PRESET.get(preset, preset)})


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


def _cosine_panels() -> list[tuple[str, SamplerSweep]]:
    """(family, sweep) of every panel of images-cosine, in registration order."""
    return [(f, sweep) for f, fam in IMAGE_FAMILIES.items() for sweep in fam.sweeps]


def _draw_cosine(frames: dict):
    # a set too long for a family (pixel-ar at 32×32) has no frame
    present = [(f, sweep, frames[f"{f}/{sweep.name}"]) for f, sweep in _cosine_panels() if f"{f}/{sweep.name}" in frames]
    fig, axes = plt.subplots(max(2, -(-len(present) // 4)), 4, figsize=(15, 3.2 * max(2, -(-len(present) // 4))), squeeze=False)
    for ax in axes.flat[len(present):]:
        ax.set_visible(False)
    for ax, (family, sweep, df) in zip(axes.flat, present):
        line(df, x=column(sweep), y="result.cosine", ax=ax, name=seeds_name(df), logx=sweep.name == "steps",
             xlabel=label(sweep), ylabel="P-cosine (Adam P)", neutral=sweep.neutral, bounds=(-1, 1))
        zero_lines(ax, sweep.neutral)
        ax.set_title(f"{family}: {label(sweep)}", fontsize=9)
        ax.legend(fontsize=6)
    fig.suptitle(f"{_data_label(frames)}: P-cosine of r_d (held-out) and r_s vs sampler sharpness ({caption(*(df for _, _, df in present))})", fontsize=9)
    fig.tight_layout()
    return fig


def _draw_neon(frames: dict):
    fams = [f for f in IMAGE_FAMILIES if f in frames]
    fig, axes = plt.subplots(4, len(fams), figsize=(4.4 * len(fams), 12), squeeze=False)
    table = sign_agreement({f: frames[f] for f in fams})
    for j, family in enumerate(fams):
        df = frames[family]
        neon = IMAGE_FAMILIES[family].neon
        setting, setting_label = column(neon), label(neon)
        ok = df[df["status"] == "ok"]
        ax = axes[0, j]
        best_w_against_s(ok, ax, setting=setting, setting_label=setting_label)
        t = table[table.family == family].set_index("metric")
        ax.set_title(f"{family}: sign(best w) = −sign(s) in {t.loc['loss', 'agree']}/{t.loc['loss', 'cells']} (loss), "
                     f"{t.loc['fid', 'agree']}/{t.loc['fid', 'cells']} (FID)", fontsize=8)
        long = explode_w(df, ["result.fid_at_w", "result.precision_at_w", "result.recall_at_w", "result.loss_at_w"])
        for i, (col, name) in enumerate((("result.loss_at_w", "held-out loss"), ("result.fid_at_w", "FID (own features)")), start=1):
            line(long, x="w", y=col, hue=setting, ax=axes[i, j], marker=".", ylabel=name)
            axes[i, j].axvline(0, color="k", lw=0.7)  # the base model
            if col == "result.fid_at_w":
                floor_band(ok, axes[i, j])
            axes[i, j].legend(title=setting_label, fontsize=6, title_fontsize=6)
        pr = long.melt(id_vars=["w", setting, "seed"], value_vars=["result.precision_at_w", "result.recall_at_w"], var_name="metric", value_name="score")
        pr["metric"] = pr["metric"].map({"result.precision_at_w": "precision", "result.recall_at_w": "recall"})
        line(pr, x="w", y="score", hue=setting, style="metric", ax=axes[3, j], marker=".", ylabel="prdc precision / recall (k = 5)")
        axes[3, j].axvline(0, color="k", lw=0.7)
        axes[3, j].legend(fontsize=6, title=f"{setting_label} / metric", title_fontsize=6)
    fig.suptitle(f"Neon on {_data_label(frames)}: best w vs s (one point per seed), and the metrics of θ_Neon(w) "
                 f"({caption(*(frames[f] for f in fams))})", fontsize=9)
    fig.tight_layout()
    return fig


#: the two-sided 95% normal quantile: the error bars and bands of the image figures are ± Z95 · SE
Z95 = 1.96
#: the metrics a best w is found on, with their markers
BEST_W = {"result.best_w_loss": ("held-out loss", "o"), "result.best_w_fid": ("FID", "^")}


def best_w_against_s(ok: pd.DataFrame, ax, *, setting: str, setting_label: str, columns=tuple(BEST_W)) -> None:
    """Each cell's best w against its s ± 1.96 SE (horizontal bars), one colour per sampler setting;
    the shaded quadrants are where the theory's sign holds (sign(best w) = −sign(s))."""
    colours = colours_for(hue_levels(ok[setting]))
    for value, g in ok.groupby(setting):
        for col in columns:
            name, marker = BEST_W[col]
            ax.errorbar(g["result.s"], g[col], xerr=Z95 * g["result.s_se"], fmt=marker, ms=4, lw=0.8, capsize=2,
                        color=colours[level_name(value)], label=f"{setting_label} {level_name(value)}, best w on the {name}")
    ax.axhline(0, color="k", lw=0.7)
    ax.axvline(0, color="k", lw=0.7)
    x_lo, x_hi = ax.get_xlim()
    y_lo, y_hi = ax.get_ylim()
    for xs, ys in (((x_lo, 0), (0, y_hi)), ((0, x_hi), (y_lo, 0))):  # the quadrants the theory predicts
        ax.fill_between(xs, *ys, color="tab:green", alpha=0.08, lw=0)
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.set_xlabel("s ± 1.96 SE (a point per seed and setting)")
    ax.set_ylabel("best w (Brent)")
    ax.legend(fontsize=5, title="shaded: sign(best w) = −sign(s)", title_fontsize=5)


def floor_band(ok: pd.DataFrame, ax) -> None:
    """The FID floor (two real sets the feature net never saw) with its ± 1.96 SE band, where the records have one."""
    if "result.fid_floor" not in ok or ok["result.fid_floor"].isna().all():
        return
    floor, se, n = ok["result.fid_floor"].mean(), ok["result.fid_floor_se"].mean(), int(ok["result.fid_floor_n"].iloc[0])
    ax.axhspan(floor - Z95 * se, floor + Z95 * se, color="grey", alpha=0.2, lw=0, label=f"FID floor ± 1.96 SE (real vs real, {n} images)")
    ax.axhline(floor, color="grey", lw=0.8)


def _best_w_figure_spec(family: str, preset: str, size: int = 8) -> SweepSpec:
    """The claims' cells; one seed and one setting at smoke size (the catalogue's CI run), the claims' own otherwise."""
    spec = scoring_spec(family, preset, size)
    return dataclasses.replace(spec, seeds=spec.seeds[:1], grid={"sampler": spec.grid["sampler"][:1]}) if preset == "smoke" else spec


def _draw_best_w(frames: dict):
    fams = [f for f in IMAGE_FAMILIES if f in frames]
    fig, axes = plt.subplots(3, len(fams), figsize=(4.6 * len(fams), 10.5), squeeze=False)
    for j, family in enumerate(fams):
        ok = frames[family][frames[family]["status"] == "ok"]
        neon = IMAGE_FAMILIES[family].neon
        setting, setting_label = column(neon), label(neon)
        for i, col in enumerate(BEST_W):
            best_w_against_s(ok, axes[i, j], setting=setting, setting_label=setting_label, columns=(col,))
            agree = int((np.sign(ok[col]) == -np.sign(ok["result.s"])).sum())
            axes[i, j].set_title(f"{family}, best w on the {BEST_W[col][0]}:\nsign(best w) = −sign(s) in {agree}/{len(ok)} cells", fontsize=8)
        ax = axes[2, j]
        base = ok.drop_duplicates("seed").sort_values("seed")  # the base model is one per seed, whatever the sampler
        at_floor = "result.base_fid_at_floor_n" in base and base["result.base_fid_at_floor_n"].notna().all()
        y = base["result.base_fid_at_floor_n" if at_floor else "result.base_fid"]
        n = int(base["result.fid_floor_n"].iloc[0] if at_floor else base["result.n_eval"].iloc[0]) if len(base) else 0
        ax.errorbar(base["seed"].astype(int), y, yerr=Z95 * base["result.base_fid_se"], fmt="o", ms=4, capsize=2, color="k",
                    label=f"base model on {n} samples (bars: ± 1.96 SE on {int(base['result.n_eval'].iloc[0]) if len(base) else 0})")
        floor_band(ok, ax)
        ax.set_xlabel("seed (one base model each)")
        ax.set_ylabel("FID (own features)")
        ax.set_title(f"{family}: base models against the FID floor", fontsize=8)
        ax.legend(fontsize=5)
    fig.suptitle(f"Neon on {_data_label(frames)}, the image claims' cells: best w against s, and the bases against the FID floor\n"
                 f"({n_seeds(*(frames[f] for f in fams))}; bars and bands ± 1.96 SE)", fontsize=9)
    fig.tight_layout()
    return fig


register_figure(
    "images-cosine",
    "digits: the P-cosine (Adam P) vs each image family's samplers (UNet diffusion, UNet flow, pixel transformer)",
    {f"{f}/{sweep.name}": (lambda p, f=f, n=sweep.name: image_cosine_spec(f, n, p)) for f, sweep in _cosine_panels()},
    _draw_cosine,
)
register_figure(
    "images-neon",
    "digits: best w on the held-out loss and on FID vs the sign of s, and FID / precision / recall vs w, per image family",
    {f: (lambda p, f=f: image_neon_spec(f, p)) for f in IMAGE_FAMILIES},
    _draw_neon,
)
register_figure(
    "images-sharpness",
    "8×8 digits, the scorecard's cells (reduced, scoring seeds): the P-cosine (Adam P) vs each family's first sampler sweep",
    {f"{f}/{fam.sweeps[0].name}": functools.partial(sharpness_spec, f) for f, fam in IMAGE_FAMILIES.items() if fam.sweeps},
    _draw_cosine,
)
for _size in SCORED_SIZES:
    register_figure(
        best_w_figure(_size),
        f"{_size}×{_size} digits, the image claims' cells (scoring seeds): best w on the held-out loss and on FID against s ± SE, "
        "and the bases against the FID floor",
        {f: (lambda p, f=f, size=_size: _best_w_figure_spec(f, p, size)) for f in SCORED_SIZES[_size]},
        _draw_best_w,
    )
