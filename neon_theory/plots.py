"""Figures drawn from result tables (matplotlib, Agg backend; PNG and PDF)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def save(fig, path: str | Path, formats=("png", "pdf")) -> list[Path]:
    """Save ``fig`` as ``path`` with each suffix in ``formats``; returns the written paths."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for ext in formats:
        p = path.with_suffix("." + ext)
        fig.savefig(p, dpi=150, bbox_inches="tight")
        out.append(p)
    plt.close(fig)
    return out


def alignment_vs_sharpness(table: pd.DataFrame, *, x: str, y: str, hue: str, ax=None, neutral: float | None = 1.0):
    """Line plot of ``y`` (e.g. s or the P-cosine) against a sharpness column ``x``, one line per ``hue``.

    If ``{y}_se`` is a column, a ±1.96·SE band is drawn.
    """
    for col in (x, y, hue):
        if col not in table.columns:
            raise ValueError(f"table has no column {col!r}; columns are {list(table.columns)}")
    ax = ax or plt.subplots(figsize=(5, 3.5))[1]
    for name, g in table.groupby(hue, sort=False):
        g = g.sort_values(x)
        ax.plot(g[x], g[y], marker="o", label=str(name))
        if f"{y}_se" in g:
            ax.fill_between(g[x], g[y] - 1.96 * g[f"{y}_se"], g[y] + 1.96 * g[f"{y}_se"], alpha=0.2)
    ax.axhline(0, color="k", lw=0.8)
    if neutral is not None:
        ax.axvline(neutral, color="grey", ls=":", lw=0.8)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.legend(fontsize=8)
    return ax


def metric_vs_w(curves: pd.DataFrame, *, metric: str, hue: str, marks: dict | None = None, ax=None):
    """``metric`` against w, one line per ``hue``; ``marks`` maps a hue value to {label: w} verticals."""
    for col in ("w", metric, hue):
        if col not in curves.columns:
            raise ValueError(f"curves has no column {col!r}; columns are {list(curves.columns)}")
    ax = ax or plt.subplots(figsize=(5, 3.5))[1]
    styles = {"predicted w*": "--", "best w": ":"}
    for name, g in curves.groupby(hue, sort=False):
        (line,) = ax.plot(g["w"], g[metric], label=str(name))
        for label, w in (marks or {}).get(name, {}).items():
            if w is not None and w == w:
                ax.axvline(w, color=line.get_color(), ls=styles.get(label, "-."), lw=1, label=f"{label} ({name})")
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("w")
    ax.set_ylabel(metric)
    ax.legend(fontsize=7)
    return ax


def plane_heatmap(grid: pd.DataFrame, *, value: str = "log10_w2", ax=None, title: str | None = None):
    """Heat map of ``value`` over (w_s, w_o), averaged over seeds if several; marks the base and the minimum."""
    for col in ("w_s", "w_o", value):
        if col not in grid.columns:
            raise ValueError(f"grid has no column {col!r}; columns are {list(grid.columns)}")
    table = grid.groupby(["w_o", "w_s"])[value].mean().unstack("w_s").sort_index()
    ax = ax or plt.subplots(figsize=(5.5, 4.5))[1]
    extent = [table.columns.min(), table.columns.max(), table.index.min(), table.index.max()]
    im = ax.imshow(table.to_numpy(), origin="lower", aspect="auto", extent=extent, cmap="viridis")
    plt.colorbar(im, ax=ax, label=value)
    ax.plot(0, 0, "w+", ms=12, mew=2, label="base θ_r")
    ws, wo = table.stack().idxmin()[::-1]
    ax.plot(ws, wo, "r*", ms=12, label=f"min ({ws:.2g}, {wo:.2g})")
    ax.set_xlabel("w_s (Neon direction θ_r − θ_s)")
    ax.set_ylabel("w_o (more-real-data direction θ_o − θ_r)")
    ax.legend(fontsize=7, loc="upper right")
    if title:
        ax.set_title(title)
    return ax
