"""Drawings the studies share (cosine panels, the official toys' figure, precision/recall, the plane),
and the presets and axis labels they register with the run layer."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from neon_theory.run.figures import register_preset
from neon_theory.run.plots import (
    caption,
    colours_for,
    explode_w,
    hue_levels,
    label,
    line,
    n_seeds,
    ok_records,
    panels,
    plane_heatmap,
    register_label,
    require_columns,
    seeds_name,
    tally,
    zero_lines,
)

from .official import PUBLISHED, TOY_AXES
from .presets import PRESETS

for _name, _description in PRESETS.items():
    register_preset(_name, _description)

for _column, _text in {"a": "a (step along Σ̂⁻¹)", "n": "n (training samples)", "per_dim": "mean ΔL_pop over draws / D"}.items():
    register_label(_column, _text)


def knob_axis(df: pd.DataFrame, knob: str) -> pd.DataFrame:
    """``df`` with its generic ``value`` column named after the knob it sets (``top_k``, ``guidance``, ...),
    so that the axis names its quantity; a fixed column of that name (e.g. ``steps`` at a guidance knob) is dropped."""
    return df.drop(columns=[knob], errors="ignore").rename(columns={"value": knob})


def mark_degenerate(ax, df: pd.DataFrame, x: str) -> None:
    """Cross out the per-seed cosines flagged degenerate (one coordinate carries most of a P-norm)."""
    if "result.degenerate" not in df:
        return
    ok = ok_records(df)
    bad = ok[ok["result.degenerate"].fillna(False).astype(bool)]
    if len(bad):
        ax.scatter(bad[x].astype(float), bad["result.cosine"].astype(float), marker="x", color="red", s=18, zorder=5,
                   label=f"degenerate: {len(bad)} of {len(ok)} cells")


def cosine_panels(panels: dict[str, tuple[pd.DataFrame, str, str | None]], *, neutral: dict | None = None, ncols: int = 4):
    """The P-cosine vs sharpness, one panel per family and sampler: ``panels`` maps a title to
    (table, x column, hue column); ``neutral`` maps a title to the x of the neutral sampler
    (left out, where r_s = 0 and the cosine is undefined; no line crosses it).  Bands are
    clipped to the cosine's range [−1, 1]."""
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.8 * ncols, 3.2 * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (title, (df, x, hue)) in zip(axes.flat, panels.items()):
        at = (neutral or {}).get(title)
        line(df, x=x, y="result.cosine", hue=hue, ax=ax, name=None if hue else seeds_name(df), ylabel="P-cosine", neutral=at, bounds=(-1, 1))
        mark_degenerate(ax, df, x)
        zero_lines(ax, at)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=6, title=label(hue) if hue else None, title_fontsize=6)
    fig.suptitle(f"P-cosine of r_d and r_s vs sampler sharpness ({caption(*(df for df, _, _ in panels.values()))})", fontsize=9)
    fig.tight_layout()
    return fig


def precision_recall_vs_w(df: pd.DataFrame, *, by: str):
    """Precision and recall (list columns aligned with ``w_values``) vs w, one line per ``by`` value.

    The y range is the data's own (precision and recall near 1 are not drawn on 0–1)."""
    long = explode_w(df, ["result.precision_at_w", "result.recall_at_w"])
    return panels(
        dict(df=long, x="w", y="result.precision_at_w", hue=by, marker=".", ylabel="precision (prdc, k = 5)"),
        dict(df=long, x="w", y="result.recall_at_w", hue=by, marker=".", ylabel="recall (prdc, k = 5)"),
        title="prdc precision and recall of θ_Neon(w) samples",
    )


def plane_from_records(df: pd.DataFrame):
    """The Fig. 2 plane (mean over seeds) from records with list columns result.w_s, result.w_o, result.log10_w2."""
    cols = ["result.w_s", "result.w_o", "result.log10_w2"]
    require_columns(df, cols)
    ok = df[df["status"] == "ok"]
    grid = pd.concat(
        [pd.DataFrame({"w_s": list(r[cols[0]]), "w_o": list(r[cols[1]]), "log10_w2": list(r[cols[2]]), "seed": r["seed"]}) for _, r in ok.iterrows()],
        ignore_index=True,
    )
    ax = plane_heatmap(grid, title=f"log10 W2 to the truth (AR toy), mean over {n_seeds(ok)}")
    return ax.figure


def published_marks(toy: str, ran: pd.DataFrame) -> pd.DataFrame:
    """The paper's published best w of ``toy`` (columns: sharpness, budget, ``best_w``) at the
    (sharpness, budget) cells that ran in ``ran`` (its ok records): a published value at a budget
    the data never reached has nothing beside it to be compared with."""
    sharp, budget = TOY_AXES[toy]
    published = pd.DataFrame([{sharp: float(k[0]), budget: float(k[1]), "best_w": v} for k, v in PUBLISHED[toy]["best_w"].items()])
    cells = ok_records(ran)[[sharp, budget]].astype(float).drop_duplicates()
    return published.merge(cells, on=[sharp, budget])


def official_toy_figure(f: dict, toy: str):
    """Best w vs budget per sharpness (the published values as crosses, at the budgets that ran)
    and the P-cosine vs sharpness."""
    sharp, budget = TOY_AXES[toy]
    fig = panels(
        dict(df=f["best_w"], x=budget, y="result.best_w", hue=sharp, logx=True, zero=True, ylabel="best w (Brent on the FD)",
             title=f"best w vs {label(budget)}"),
        # τ = 1 is the AR toy's own law; ζ = 1 on the diffusion toy's 20-step DDIM is not neutral
        dict(df=f["cosine"], x=sharp, y="result.cosine", zero=1.0 if toy == "ar" else True, bounds=(-1, 1), ylabel="P-cosine (Adam P)",
             title=f"P-cosine vs {label(sharp)}",
             name=seeds_name(f["cosine"])),
        title=f"official {toy} toy",
    )
    left, right = fig.axes[:2]
    colours = colours_for(hue_levels(ok_records(f["best_w"])[sharp]))  # the colours line() gave the lines
    for value, g in published_marks(toy, f["best_w"]).groupby(sharp):
        left.scatter(g[budget], g["best_w"], marker="x", s=40, color=colours[f"{value:g}"], zorder=5,
                     label=f"published, {label(sharp).split()[0]} = {value:g}")
    mark_degenerate(right, f["cosine"], sharp)
    left.legend(fontsize=6, title=label(sharp), title_fontsize=6)
    right.legend(fontsize=6)
    fig.tight_layout()
    return fig


def warmup_finding(rate: pd.DataFrame) -> str:
    """What the per-draw sweep shows over its (D, n) settings (means over seeds): in how many the
    mean ΔL_pop is negative, and the range of a single draw's chance to improve (where it is lowest)."""
    means = ok_records(rate).groupby(["dim", "n"])[["result.mean_delta", "result.improvement_rate"]].mean()
    p = means["result.improvement_rate"]
    dim, n = p.idxmin()
    return (f"{tally('mean ΔL_pop < 0', means['result.mean_delta'], lambda v: v < 0, '(D, n) settings')}; "
            f"a single draw improves with P = {p.min():.2f} to {p.max():.2f} (lowest at D = {dim}, n = {n})")


def mode_seeking_signs(g: pd.DataFrame) -> str:
    """The signs of s and of the best w under a mode-seeking sampler (T < 1), counted per base over
    its (T, seed) cells: the over-dispersed counterexample as the data show it."""
    ok = ok_records(g)
    ok = ok[ok["T"].astype(float) < 1]
    return "; ".join(
        f"{base}: {tally('s > 0', b['result.s'], lambda v: v > 0)}, {tally('best w < 0', b['result.best_w'], lambda v: v < 0)} (T, seed) cells"
        for base, b in ok.groupby("base", sort=True)
    )
