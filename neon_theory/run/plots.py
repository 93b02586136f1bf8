"""Figures drawn from result tables with seaborn (Agg backend; PNG and PDF with TrueType fonts).

Generic drawings only: the figures of a model family live with its package.  Every line is
the mean over seeds with a 95% t-interval over seeds as its band (the convention of
:mod:`neon_theory.run.summary`, which the tables use too) from :data:`MIN_SEEDS_FOR_BAND`
seeds up, and one marker per seed below that; axes are named by :func:`label` (``tau`` →
"τ (std temperature)"), a value that recurs across figures (a base model) has one colour
(:data:`COLOURS`), and :func:`figure_problems` checks a drawn figure for what a reviewer
would send back (an axis named "value", no seed count, a legend of ``column=value`` pairs,
a y-label running into the next panel).
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from ..samplers import UNDEFINED_AT_NEUTRAL  # noqa: E402
from .summary import explode_w, require_columns, t_interval  # noqa: E402, F401  (explode_w, require_columns: part of this module's API)

# TrueType (Type 42) fonts in PDF and PostScript: editable text that journals accept, not Type 3 bitmaps
matplotlib.rcParams.update({"pdf.fonttype": 42, "ps.fonttype": 42})

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


#: column → how an axis or legend names it; families add their own with :func:`register_label`; a
#: sampler's column (``tau``, ``top_k``, ...) is named by its entry in :mod:`neon_theory.sampler_text`.
LABELS: dict[str, str] = {
    "w": "w (merge weight)",
    "gamma": "γ (guidance)",
    "temperature": "T (density temperature)",
    "n_synthetic": "|S| (synthetic samples)",
    "ft_epochs": "fine-tuning epochs",
    "ft_steps": "fine-tuning steps",
    "alpha": "α = lr × steps",
    "preconditioner": "preconditioner P",
    "base": "base model",
    "dim": "dimension D",
    "seed": "seed",
    "cosine": "P-cosine",
    "s": "s = ⟨r_d, P r_s⟩",
    "best_w": "best w",
    "w_star": "predicted w* = −s/(αz)",
    "nll": "population NLL",
    "gain": "gain at the best w",
}


def register_label(column: str, text: str) -> None:
    """Name ``column`` as ``text`` on every axis and legend drawn by this module."""
    if not isinstance(column, str) or not isinstance(text, str) or not text.strip():
        raise ValueError(f"a label maps a column name to non-empty text; got {column!r} -> {text!r}")
    LABELS[column] = text


def label(column: str) -> str:
    """The words for ``column`` (``result.`` dropped; the column itself if none is registered)."""
    from ..sampler_text import column_labels

    name = column.removeprefix("result.")
    return LABELS.get(column, LABELS.get(name, column_labels().get(name, name.replace("_", " "))))


def t95(values) -> tuple[float, float]:
    """seaborn ``errorbar``: the 95% t-interval over seeds of ``values`` (none for one seed)."""
    _, _, lo, hi = t_interval(values, 0.95)
    return lo, hi


#: The fewest seeds behind a point that get a t-band; with fewer, each seed is its own marker.
#: Over 2 seeds t(0.975, 1) = 12.7: the band spans far more than the data (an NLL band dips
#: below the data's entropy), so it would say less than the two values themselves.
MIN_SEEDS_FOR_BAND = 3

#: value → its colour in every figure, for the values that recur across figures (the Gaussian
#: base models): a base drawn blue in one figure and red in the next reads as two models.
COLOURS: dict[str, str] = {"under-dispersed": "#1f77b4", "over-dispersed": "#ff7f0e"}


def level_name(value) -> str:
    """How a hue value is written in a legend (a float as ``%g``)."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def hue_levels(values) -> list[str]:
    """The distinct ``values`` in numeric order (strings last), written as in a legend."""
    return [level_name(v) for v in sorted(set(values), key=lambda v: (isinstance(v, str), v))]


def colours_for(levels) -> dict[str, str]:
    """level → colour: a level's fixed colour in :data:`COLOURS`, the others the qualitative
    cycle (C0, C1, ...) in order, skipping the colours the fixed levels took."""
    fixed = {str(v): COLOURS[str(v)] for v in levels if str(v) in COLOURS}
    cycle = [c for c in sns.color_palette(n_colors=10).as_hex() if c not in fixed.values()]
    free = [str(v) for v in levels if str(v) not in fixed]
    return fixed | {v: cycle[i % len(cycle)] for i, v in enumerate(free)}


def n_seeds(*frames: pd.DataFrame) -> str:
    """The number of seeds behind ``frames``, in words: "5 seeds", or "1–5 seeds" when it differs."""
    counts = sorted({int(f["seed"].nunique()) for f in frames if "seed" in f and len(f)})
    if not counts:
        return "no seeds"
    text = str(counts[0]) if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
    return f"{text} seed{'s' if counts[-1] != 1 else ''}"


def banded(df: pd.DataFrame) -> bool:
    """Whether ``df`` has enough seeds (:data:`MIN_SEEDS_FOR_BAND`) for a t-band."""
    return "seed" in df and df["seed"].nunique() >= MIN_SEEDS_FOR_BAND


def caption(*frames: pd.DataFrame) -> str:
    """What the figure's lines and bands are, for its title: "mean over N seeds, band: 95%
    t-interval over seeds", or one marker per seed where a frame has too few for a band."""
    drawn = [f for f in frames if "seed" in f and len(f)]
    if all(map(banded, drawn)):
        return f"mean over {n_seeds(*frames)}, band: 95% t-interval over seeds"
    if not any(map(banded, drawn)):
        return f"{n_seeds(*frames)}, one marker per seed (too few for an interval)"
    return f"{n_seeds(*frames)}: mean and 95% t-band over seeds, or one marker per seed under {MIN_SEEDS_FOR_BAND} seeds"


def seeds_name(df: pd.DataFrame) -> str:
    """The legend entry of a single line over the seeds of ``df``: what :func:`line` draws."""
    return f"mean over {n_seeds(df)}" if banded(df) else f"{n_seeds(df)}, one marker each"


def tally(claim: str, values: pd.Series, holds, unit: str = "") -> str:
    """"``claim`` in k/n ``unit``": for how many of the finite ``values`` ``holds(values)`` is true,
    so that a title states what the data show, not what the theory predicts."""
    values = values[np.isfinite(values.astype(float))]
    return f"{claim} in {int(holds(values).sum())}/{len(values)}" + (f" {unit}" if unit else "")


def ok_records(df: pd.DataFrame) -> pd.DataFrame:
    """The records of ``df`` that finished (``status`` ok); all of them in a table with no status."""
    return df[df["status"] == "ok"] if "status" in df else df


def _spread(data: pd.DataFrame, *, x: str, y: str, by: list, bounds) -> dict:
    """seaborn keywords for the spread over seeds: the mean with a 95% t-band (clipped to
    ``bounds``) where every point has :data:`MIN_SEEDS_FOR_BAND` seeds, else each seed's own
    markers, thinly joined."""
    rows = data.dropna(subset=[y]).groupby([x, *by])
    per_point = rows["seed"].nunique() if "seed" in data else rows.size()  # seeds, not rows (a point may hold several rows per seed)
    if len(per_point) and per_point.min() >= MIN_SEEDS_FOR_BAND:
        return {"errorbar": t95 if bounds is None else (lambda v: tuple(min(max(b, bounds[0]), bounds[1]) for b in t95(v)))}
    return {"errorbar": None, "estimator": None, "units": "seed" if "seed" in data else None, "lw": 0.6}


def compact_number(v: float) -> str:
    """A tick label short enough for neighbouring log ticks: 30000 → "30k", 2e6 → "2M", else %g."""
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(v) >= size:
            return f"{v / size:g}{suffix}"
    return f"{v:g}"


def line(
    df: pd.DataFrame, *, x: str, y: str, hue: str | None = None, style: str | None = None, ax=None,
    logx: bool = False, marker: str = "o", name: str | None = None, xlabel: str | None = None, ylabel: str | None = None, palette=None,
    color=None, neutral: float | None = None, bounds: tuple[float, float] | None = None,
):
    """``y`` vs ``x`` with seaborn: the mean over seeds (failed records left out) and a 95%
    t-band over seeds, one line per ``hue`` (and ``style``) value; ``name`` labels a single line,
    ``color`` colours it.  Points with fewer than :data:`MIN_SEEDS_FOR_BAND` seeds are drawn as
    one marker per seed (each seed thinly joined), not as a band.

    ``neutral``: the x of the neutral sampler, where ``y`` is undefined (r_s = 0): records
    there are left out and no line crosses it (each side is its own line).  ``bounds``: the
    range ``y`` lives in (a cosine's [−1, 1]); the band is clipped to it.
    """
    require_columns(df, [c for c in (x, y, hue, style) if c])
    ok = ok_records(df)
    ax = ax or plt.subplots(figsize=(5, 3.5))[1]
    data = ok.assign(**{x: ok[x].astype(float), y: ok[y].astype(float)})
    kwargs = {} if color is None else {"color": color}
    if hue is not None:  # categories in numeric order; fixed colours for recurring values, the qualitative cycle for the rest
        order = hue_levels(data[hue])
        data[hue] = data[hue].map(level_name)
        kwargs = {"hue": hue, "palette": palette or colours_for(order), "hue_order": order}
    kwargs |= _spread(data, x=x, y=y, by=[c for c in (hue, style) if c], bounds=bounds)
    sides = [data] if neutral is None else [data[data[x] < neutral], data[data[x] > neutral]]
    drawn = False
    for part in sides:
        if part.empty:
            continue
        legend = {} if not drawn else {"legend": False}
        if name is not None and not drawn:
            legend["label"] = name
        first = len(ax.lines)
        sns.lineplot(data=part, x=x, y=y, style=style, ax=ax, marker=marker, markersize=4, **kwargs, **legend)
        for extra in ax.lines[first + 1:] if "label" in legend else []:  # one entry for the line, not one per seed
            extra.set_label("_nolegend_")
        if hue is None and style is None:  # the second side keeps the first side's colour
            kwargs["color"] = ax.lines[-1].get_color()
        drawn = True
    if logx:  # ticks at the swept values, in plain numbers
        ax.set_xscale("log")
        ax.set_xticks(sorted(data[x].unique()))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: compact_number(v)))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel(xlabel or label(x))
    ax.set_ylabel(ylabel or label(y))
    legend = ax.get_legend()
    if legend is not None and hue is not None:
        legend.set_title(label(hue) if style is None else f"{label(hue)} / {label(style)}")
    return ax


def zero_lines(ax, x: float | None = None):
    """A line at y = 0 (the sign the theory predicts) and, if given, a dotted one at the neutral x,
    named :data:`~neon_theory.samplers.UNDEFINED_AT_NEUTRAL` in a legend drawn after it (the
    same words as the tables and JSON use)."""
    ax.axhline(0, color="k", lw=0.7)
    if x is not None:
        ax.axvline(x, color="grey", ls=":", lw=0.8, label=UNDEFINED_AT_NEUTRAL)


def alignment_vs_sharpness(table: pd.DataFrame, *, x: str, y: str, hue: str, ax=None, neutral: float | None = 1.0):
    """``y`` (e.g. s or the P-cosine) against a sharpness column ``x``, one line per ``hue``.

    The two sides of ``neutral`` are drawn as separate lines (the quantity is undefined at the
    neutral sampler, so no line crosses it); a ``{y}_se`` column is drawn as ±1.96·SE error bars.
    """
    require_columns(table, [x, y, hue])
    ax = ax or plt.subplots(figsize=(5, 3.5))[1]
    t = table[table[x] != neutral] if neutral is not None else table
    side = None
    if neutral is not None:
        t = t.assign(side=(t[x] < neutral).map({True: f"{label(x).split()[0]} < {neutral:g}", False: f"{label(x).split()[0]} > {neutral:g}"}))
        side = "side"
    sns.lineplot(data=t, x=x, y=y, hue=hue, palette=colours_for(hue_levels(t[hue])), units=side, estimator=None if side else "mean", marker="o", ax=ax,
                 errorbar=None)
    if f"{y}_se" in t and (t[f"{y}_se"] > 0).any():
        ax.errorbar(t[x], t[y], yerr=1.96 * t[f"{y}_se"], fmt="none", ecolor="grey", lw=0.8)
    zero_lines(ax, neutral)
    ax.set_xlabel(label(x))
    ax.set_ylabel(label(y))
    ax.legend(title=label(hue), fontsize=8, title_fontsize=8)  # redrawn: it names the neutral line too
    return ax


def metric_vs_w(curves: pd.DataFrame, *, metric: str, hue: str, marks: dict | None = None, ax=None):
    """``metric`` against w, one line per ``hue``; ``marks`` maps a hue value to {label: w} verticals."""
    require_columns(curves, ["w", metric, hue])
    ax = ax or plt.subplots(figsize=(5, 3.5))[1]
    sns.lineplot(data=curves, x="w", y=metric, hue=hue, palette=colours_for(hue_levels(curves[hue])), ax=ax, errorbar=None)
    colors = {t.get_text(): h.get_color() for h, t in zip(ax.get_legend().legend_handles, ax.get_legend().get_texts())}
    styles = {"predicted w*": "--", "best w": ":"}
    for name, group_marks in (marks or {}).items():
        for mark, w in group_marks.items():
            if w is not None and w == w:
                ax.axvline(w, color=colors.get(str(name), "k"), ls=styles.get(mark, "-."), lw=1, label=f"{mark} ({name})")
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel(label("w"))
    ax.set_ylabel(label(metric))
    ax.legend(fontsize=7, title=label(hue), title_fontsize=7)
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


def metric_vs_w_figure(df: pd.DataFrame, *, metric: str, by: list[str], predicted: str | None = None, best: str | None = None):
    """``metric`` (a list column aligned with ``w_values``) vs w, one panel per ``by`` setting,
    with the predicted w* and Brent's best w (means over seeds) marked; a setting with a fixed
    colour (a base model, :data:`COLOURS`) is drawn in it.  The caller titles the figure."""
    long = explode_w(df, [metric])
    settings = long.groupby(by, sort=True)
    fig, axes = plt.subplots(1, settings.ngroups, figsize=(3.4 * settings.ngroups, 3.2), squeeze=False, layout="constrained")
    for ax, (key, g) in zip(axes[0], settings):
        key = key if isinstance(key, tuple) else (key,)
        colour = next((COLOURS[v] for v in key if isinstance(v, str) and v in COLOURS), None)
        line(g, x="w", y=metric, ax=ax, marker=".", name=seeds_name(g), color=colour)
        rec = df[(df[by] == pd.Series(key, index=by)).all(axis=1)]
        for col, style, name in ((predicted, "--", "predicted w*"), (best, ":", "best w (Brent)")):
            if col and col in rec and rec[col].notna().any():
                ax.axvline(float(rec[col].mean()), color="C3" if style == "--" else "C2", ls=style, label=f"{name} {rec[col].mean():+.2f}")
        ax.axvline(0, color="k", lw=0.7)
        ax.set_title(", ".join(f"{label(b).split(' (')[0]} = {v}" for b, v in zip(by, key)), fontsize=8)
        ax.legend(fontsize=6)
    return fig


def panels(*specs, title: str | None = None):
    """Line plots side by side.  Each panel is a dict of :func:`line` keyword arguments
    (``df``, ``x``, ``y``, ``hue``, …, plus ``zero`` and ``title``) or a list of them drawn on one
    axis.  ``zero=True`` draws y = 0; a number also marks the neutral sampler's x (no line crosses it).
    The figure's title ends with the number of seeds and the band's meaning."""
    fig, axes = plt.subplots(1, len(specs), figsize=(4.2 * len(specs), 3.3), squeeze=False)
    frames = []
    for ax, layers in zip(axes[0], specs):
        for spec in layers if isinstance(layers, list) else [layers]:
            spec = dict(spec)
            zero, title_ = spec.pop("zero", None), spec.pop("title", None)
            frames.append(spec["df"])
            if zero is not None and zero is not True:  # a number: the neutral sampler's x, where the quantity is undefined
                spec.setdefault("neutral", zero)
            line(spec.pop("df"), ax=ax, **spec)
            if zero is not None:
                zero_lines(ax, None if zero is True else zero)
            if title_:
                ax.set_title(title_, fontsize=8)
        if ax.get_legend() is not None:
            ax.legend(fontsize=6, title=ax.get_legend().get_title().get_text() or None, title_fontsize=6)
    sep = "\n" if title and len(title) > 70 else " "  # a long title keeps its caption on a line of its own, not wider than the panels
    fig.suptitle(f"{title + sep if title else ''}({caption(*frames)})", fontsize=9)
    fig.tight_layout()
    return fig


# ---- what a reviewer checks ---------------------------------------------------------------

_COLUMN_PAIR = re.compile(r"^[A-Za-z_][\w.]*=\S")
_SEEDS = re.compile(r"\b\d+(?:–\d+)? seeds?\b")


def crowded_labels(fig) -> list[str]:
    """The y-labels of ``fig`` that run into another panel (its frame or its tick labels), as
    the renderer places them: panels set too close for their labels."""
    fig.draw_without_rendering()  # tick labels get their text and place at draw time
    renderer = fig.canvas.get_renderer()
    shown = [(i, ax) for i, ax in enumerate(fig.axes) if ax.get_visible()]
    problems = []
    for i, ax in shown:
        if not ax.get_ylabel().strip():
            continue
        box = ax.yaxis.label.get_window_extent(renderer)
        for j, other in shown:
            ticks = [t for t in (*other.get_xticklabels(), *other.get_yticklabels()) if t.get_visible() and t.get_text()]
            boxes = [other.get_window_extent(renderer), *(t.get_window_extent(renderer) for t in ticks)]
            if other is not ax and any(box.overlaps(b) for b in boxes):
                problems.append(f"axes {i}: its y-label {ax.get_ylabel()!r} overlaps axes {j} (its frame or tick labels)")
    return problems


def figure_problems(fig) -> list[str]:
    """What a reviewer would send back about ``fig``: an axis with data but no name, an axis
    named "value" (or a raw ``result.`` column), a legend entry written ``column=value``, a
    y-label running into the next panel (:func:`crowded_labels`), and no statement of the
    number of seeds anywhere in its text.  Empty when it passes."""
    problems = crowded_labels(fig)
    texts = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible() or not (ax.lines or ax.collections or ax.images or ax.patches):
            continue
        if ax.get_label() == "<colorbar>":
            continue
        where = f"axes {i} ({ax.get_title() or 'untitled'})"
        for axis, text in (("x", ax.get_xlabel()), ("y", ax.get_ylabel())):
            if not text.strip():
                problems.append(f"{where}: the {axis} axis has no name")
            elif text.strip().lower() == "value" or "result." in text:
                problems.append(f"{where}: the {axis} axis is named {text!r}")
        legend = ax.get_legend()
        for t in legend.get_texts() if legend is not None else []:
            if _COLUMN_PAIR.match(t.get_text()):
                problems.append(f"{where}: legend entry {t.get_text()!r} is a column=value pair, not words")
    if not any(_SEEDS.search(t) for t in texts):
        problems.append("no text of the figure states the number of seeds")
    return problems
