"""Figures drawn from result tables (matplotlib, Agg backend; PNG and PDF).

Generic drawings only: the figures of a model family live with its package.
"""

# neon-theory: presentation-only

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

#: Metadata that makes a saved figure a function of its content only: no creation date and no
#: software version, so the same inputs give byte-identical files on every run.
REPRODUCIBLE_METADATA = {
    "png": {"Software": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None},
    "svg": {"Date": None, "Creator": None},
}


def save(fig, path: str | Path, formats=("png", "pdf")) -> list[Path]:
    """Save ``fig`` as ``path`` with each suffix in ``formats``; returns the written paths.

    Files are reproducible (:data:`REPRODUCIBLE_METADATA`) and written atomically (a temp file
    renamed into place), so an interrupted save never leaves half a figure.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for ext in formats:
        p = path.with_suffix("." + ext)
        tmp = p.with_name(f".tmp-{p.name}")
        try:
            fig.savefig(tmp, dpi=150, bbox_inches="tight", format=ext, metadata=REPRODUCIBLE_METADATA.get(ext))
            tmp.replace(p)
        finally:
            tmp.unlink(missing_ok=True)
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


# ---- figures drawn from sweep tables (records_frame columns: params, seed, result.<field>) ----


def require_columns(df: pd.DataFrame, cols, name: str = "table") -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; columns are {list(df.columns)}")


def seed_bands(df: pd.DataFrame, *, x: str, y: str, hue: str | None = None, level: float = 0.95) -> pd.DataFrame:
    """Mean of ``y`` over seeds per (hue, x), its SE over seeds and the half-width of a
    ``level`` t-interval (n − 1 degrees of freedom, so 2 seeds give wide, honest bands).

    With one seed per group there is no spread over seeds: the within-record SE column
    ``{y}_se`` is used with a normal quantile if present (else 0, e.g. for exact values).

    Returns:
        DataFrame: columns hue (if given), x, ``mean``, ``se``, ``half``, ``n_seeds``.
    """
    from scipy import stats

    keys = [hue, x] if hue else [x]
    require_columns(df, keys + [y])
    ok = df[df["status"] == "ok"] if "status" in df else df
    g = ok.groupby(keys, sort=True)
    out = g[y].agg(mean="mean", sd="std", n_seeds="count").reset_index()
    out["se"] = out["sd"] / out["n_seeds"].clip(lower=1) ** 0.5
    q = stats.t.ppf(0.5 + level / 2, (out["n_seeds"] - 1).clip(lower=1))
    out["half"] = q * out["se"]
    single = out["n_seeds"] < 2
    if f"{y}_se" in ok:
        within = g[f"{y}_se"].mean().reset_index(drop=True)
        out.loc[single, "se"] = within[single]
        out.loc[single, "half"] = stats.norm.ppf(0.5 + level / 2) * within[single]
    out[["se", "half"]] = out[["se", "half"]].fillna(0.0)
    return out.drop(columns="sd")


def band_plot(df: pd.DataFrame, *, x: str, y: str, hue: str | None = None, ax=None, label: str | None = None, logx: bool = False, marker: str = "o"):
    """``y`` vs ``x`` (mean over seeds) with a 95% t-band over seeds (:func:`seed_bands`), one line per ``hue``."""
    ax = ax or plt.subplots(figsize=(5, 3.5))[1]
    bands = seed_bands(df, x=x, y=y, hue=hue)
    groups = bands.groupby(hue, sort=False) if hue else [(label or y, bands)]
    for name, g in groups:
        (line,) = ax.plot(g[x], g["mean"], marker=marker, ms=3, label=f"{hue}={name}" if hue else str(name).removeprefix("result."))
        ax.fill_between(g[x].astype(float), g["mean"] - g["half"], g["mean"] + g["half"], alpha=0.2, color=line.get_color())
    if logx:  # ticks at the swept values, in plain numbers
        ax.set_xscale("log")
        ax.set_xticks(sorted(bands[x].astype(float).unique()))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel(x.removeprefix("result."))
    ax.set_ylabel(y.removeprefix("result."))
    return ax


def explode_w(df: pd.DataFrame, values: list[str], w_col: str = "w_values") -> pd.DataFrame:
    """One row per (record, w) from list-valued ``w_col`` and ``values`` columns; adds column ``w``."""
    require_columns(df, [w_col, *values])
    ok = df[df["status"] == "ok"].copy() if "status" in df else df.copy()
    ok[w_col] = ok[w_col].map(list)
    for v in values:
        ok[v] = ok[v].map(list)
    long = ok.explode([w_col, *values], ignore_index=True)
    long["w"] = long[w_col].astype(float)
    for v in values:
        long[v] = long[v].astype(float)
    return long


def zero_lines(ax, x: float | None = None):
    ax.axhline(0, color="k", lw=0.7)
    if x is not None:
        ax.axvline(x, color="grey", ls=":", lw=0.8)


def metric_vs_w_figure(df: pd.DataFrame, *, metric: str, by: list[str], predicted: str | None = None, best: str | None = None):
    """``metric`` (a list column aligned with ``w_values``) vs w, one panel per ``by`` setting,
    with the predicted w* and Brent's best w (means over seeds) marked."""
    long = explode_w(df, [metric])
    settings = long.groupby(by, sort=True)
    fig, axes = plt.subplots(1, settings.ngroups, figsize=(3.4 * settings.ngroups, 3.2), squeeze=False)
    for ax, (key, g) in zip(axes[0], settings):
        band_plot(g, x="w", y=metric, ax=ax, marker=".")
        rec = df[(df[by] == pd.Series(key if isinstance(key, tuple) else (key,), index=by)).all(axis=1)]
        for col, style, name in ((predicted, "--", "predicted w*"), (best, ":", "best w (Brent)")):
            if col and col in rec and rec[col].notna().any():
                ax.axvline(float(rec[col].mean()), color="C3" if style == "--" else "C2", ls=style, label=f"{name} {rec[col].mean():+.2f}")
        ax.axvline(0, color="k", lw=0.7)
        ax.set_title(", ".join(f"{b}={v}" for b, v in zip(by, key if isinstance(key, tuple) else (key,))), fontsize=8)
        ax.legend(fontsize=6)
    return fig


def panels(*specs, title: str | None = None):
    """Band plots side by side.  Each panel is a dict of :func:`band_plot` keyword arguments
    (``df``, ``x``, ``y``, ``hue``, …, plus ``zero`` and ``ylabel``) or a list of them drawn on one axis."""
    fig, axes = plt.subplots(1, len(specs), figsize=(4.2 * len(specs), 3.3), squeeze=False)
    for ax, layers in zip(axes[0], specs):
        for spec in layers if isinstance(layers, list) else [layers]:
            spec = dict(spec)
            zero, ylabel, title_ = spec.pop("zero", None), spec.pop("ylabel", None), spec.pop("title", None)
            band_plot(spec.pop("df"), ax=ax, **spec)
            if zero is not None:
                zero_lines(ax, None if zero is True else zero)
            if ylabel:
                ax.set_ylabel(ylabel)
            if title_:
                ax.set_title(title_, fontsize=8)
        ax.legend(fontsize=6)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig
