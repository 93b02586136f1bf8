"""The toys' figure catalogue and presets, registered with the run layer (an entry point).

Each figure is a set of sweeps (at a preset) and one drawing over the sweep tables;
``neon-theory figures NAME|all`` (:func:`neon_theory.run.figures.make_figure`) runs the
sweeps through the cached, resumable sweep engine over one result store and writes
``<out>/<name>_<preset>.png`` and ``.pdf``.  The presets are :data:`~toy_models.drivers.official.PRESETS`:
``smoke`` (CI-sized: 2 seeds, coarse grids, the toys' smoke sizes), ``reduced`` and ``paper``
(5 seeds, fine grids, the official sizes; hours on a CPU, mostly the diffusion toy).
"""

# neon-theory: presentation-only

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from neon_theory.run import plots
from neon_theory.run.figures import register_figure, register_preset
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
from neon_theory.run.sweeps import SweepSpec

from . import experiments, official  # noqa: F401  (experiments: registers them)

for _name, _description in official.PRESETS.items():
    register_preset(_name, _description)

for _column, _text in {"a": "a (step along Σ̂⁻¹)", "n": "n (training samples)", "per_dim": "mean ΔL_pop over draws / D"}.items():
    register_label(_column, _text)


def _grid(smoke, paper, preset):
    return tuple(smoke if preset == "smoke" else paper)


def _seeds(preset: str, paper: int = 5) -> tuple:
    return (0, 1) if preset == "smoke" else tuple(range(paper))


def _round(values) -> tuple:
    return tuple(float(v) for v in np.round(values, 6))


# ---- sweeps ------------------------------------------------------------------------------


def gaussian_temperature_spec(preset: str) -> SweepSpec:
    return SweepSpec(
        "gaussian-cell",
        grid={
            "T": _grid((0.5, 0.8, 1.25, 1.6), (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.05, 1.1, 1.25, 1.4, 1.6), preset),
            "base": ["under-dispersed", "over-dispersed"],
        },
        seeds=_seeds(preset),
        fixed={"n_synthetic": 2000 if preset == "smoke" else 20000},
    )


def _token_spec(knob: str, values, preset: str) -> SweepSpec:
    return SweepSpec("token-cell", grid={"value": values, "preconditioner": ["natural", "identity"]}, seeds=_seeds(preset, 10), fixed={"knob": knob})


def token_specs(preset: str) -> dict:
    return {
        "temperature": _token_spec("temperature", _grid((0.5, 0.8, 1.25, 1.6), (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.1, 1.25, 1.4, 1.6, 2.0), preset), preset),
        "top_k": _token_spec("top_k", (1, 2, 3), preset),
        "top_p": _token_spec("top_p", _grid((0.5, 0.8, 1.0), (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0), preset), preset),
    }


def ar_cosine_spec(preset: str) -> SweepSpec:
    """The AR toy's P-cosine vs τ on the toy's own grid (``ARToyConfig.cos_taus``)."""
    taus = official.ARToyConfig.preset(preset).cos_taus
    return SweepSpec("ar-cell", grid={"tau": taus}, seeds=_seeds(preset), fixed={"preset": preset, "best_w": False})


def diffusion_cosine_spec(preset: str) -> SweepSpec:
    """The diffusion toy's P-cosine vs ζ on the toy's own grid (``DiffusionToyConfig.cos_zetas``)."""
    zetas = official.DiffusionToyConfig.preset(preset).cos_zetas
    return SweepSpec("diffusion-cell", grid={"zeta": zetas}, seeds=_seeds(preset), fixed={"preset": preset})


def ar_best_w_spec(preset: str) -> SweepSpec:
    """The official AR toy's best w (Brent on the FD) per (τ, fine-tuning epochs)."""
    toy = official.ARToyConfig.preset(preset)
    return SweepSpec("ar-cell", grid={"tau": toy.taus, "ft_epochs": toy.ft_epochs}, seeds=_seeds(preset), fixed={"preset": preset, "cosine": False})


def diffusion_best_w_spec(preset: str) -> SweepSpec:
    """The official diffusion toy's best w (Brent on the FD) per (ζ, fine-tuning steps)."""
    toy = official.DiffusionToyConfig.preset(preset)
    return SweepSpec(
        "diffusion-cell", grid={"zeta": toy.zetas, "ft_steps": toy.ft_steps}, seeds=_seeds(preset), fixed={"preset": preset, "cosine": False, "best_w": True}
    )


def flow_specs(preset: str) -> dict:
    return {
        "guidance": SweepSpec(
            "flow-cell",
            grid={"value": _grid((0.5, 1.0, 2.0, 3.0), (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0), preset)},
            seeds=_seeds(preset),
            fixed={"preset": preset, "knob": "guidance"},
        ),
        "steps": SweepSpec(
            "flow-cell", grid={"value": _grid((2, 5, 20), (1, 2, 3, 5, 10, 20, 50), preset)}, seeds=_seeds(preset), fixed={"preset": preset, "knob": "steps"}
        ),
    }


def gaussian_w_spec(preset: str) -> SweepSpec:
    ws = _round(np.linspace(-4, 5, 10 if preset == "smoke" else 37))
    return SweepSpec(
        "gaussian-cell",
        grid={"T": [0.5, 1.6], "base": ["under-dispersed", "over-dispersed"]},
        seeds=_seeds(preset),
        fixed={"w_values": ws, "n_synthetic": 2000 if preset == "smoke" else 20000},
    )


def gaussian_budget_spec(preset: str) -> SweepSpec:
    return SweepSpec(
        "gaussian-cell",
        grid={"steps": _grid((2, 5, 10, 20, 40), (1, 2, 5, 10, 20, 40, 80), preset)},
        seeds=_seeds(preset),
        fixed={"T": 0.5, "n_synthetic": 2000 if preset == "smoke" else 20000},
    )


def ar_budget_spec(preset: str) -> SweepSpec:
    return SweepSpec(
        "ar-cell",
        grid={"ft_epochs": _grid((5, 20), (25, 50, 100, 250), preset), "tau": [0.5, 1.6]},
        seeds=_seeds(preset),
        fixed={"preset": preset, "cosine": False},
    )


def gaussian_size_spec(preset: str) -> SweepSpec:
    return SweepSpec(
        "gaussian-cell",
        grid={"n_synthetic": _grid((20, 200, 2000), (10, 30, 100, 300, 1000, 3000, 10000, 30000), preset)},
        seeds=_seeds(preset),
        fixed={"T": 0.5},
    )


def ar_size_spec(preset: str) -> SweepSpec:
    return SweepSpec(
        "ar-cell",
        grid={"n_synthetic": _grid((1024, 4096), (1000, 3000, 10000, 30000, 100000), preset), "tau": [0.5, 1.6]},
        seeds=_seeds(preset),
        fixed={"preset": preset, "cosine": False},
    )


def warmup_curve_spec(preset: str) -> SweepSpec:
    return SweepSpec("warmup-cell", grid={"dim": [1, 2, 10]}, seeds=_seeds(preset), fixed={"n": 30, "draws": 2000 if preset == "smoke" else 20000})


def warmup_rate_spec(preset: str) -> SweepSpec:
    return SweepSpec(
        "warmup-cell",
        grid={"dim": [1, 2, 5, 10], "n": _grid((15, 30, 100), (12, 15, 20, 30, 50, 100, 200, 500), preset)},
        seeds=_seeds(preset),
        fixed={"a_values": (), "draws": 2000 if preset == "smoke" else 20000},
    )


def plane_spec(preset: str) -> SweepSpec:
    return SweepSpec("plane-cell", seeds=_seeds(preset), fixed={"preset": preset})


def precision_recall_spec(preset: str) -> SweepSpec:
    ws = _round(np.linspace(-1, 1, 5 if preset == "smoke" else 21))
    return SweepSpec(
        "ar-cell",
        grid={"tau": [0.5, 1.6]},
        seeds=_seeds(preset),
        fixed={"preset": preset, "cosine": False, "best_w": False, "w_values": ws, "n_pr": 2000 if preset == "smoke" else 10000},
    )


# ---- figures -----------------------------------------------------------------------------


def knob_axis(df: pd.DataFrame, knob: str) -> pd.DataFrame:
    """``df`` with its generic ``value`` column named after the knob it sets (``top_k``, ``guidance``, ...),
    so that the axis names its quantity; a fixed column of that name (e.g. ``steps`` at a guidance knob) is dropped."""
    return df.drop(columns=[knob], errors="ignore").rename(columns={"value": knob})


def _draw_cosine(f: dict):
    tok = [knob_axis(f[f"tokens/{k}"], k) for k in ("temperature", "top_k", "top_p")]
    return cosine_panels(
        {
            "Gaussian (exact, P = I), temperature T": (f["gaussian"], "T", "base"),
            "tokens (exact, add-½ MLE base), temperature T": (tok[0], "temperature", "preconditioner"),
            "tokens (exact, add-½ MLE base), top-k": (tok[1], "top_k", "preconditioner"),
            "tokens (exact, add-½ MLE base), top-p": (tok[2], "top_p", "preconditioner"),
            "AR toy (Adam P), std temperature τ": (f["ar"], "tau", None),
            "diffusion toy (Adam P), score scale ζ": (f["diffusion"], "zeta", None),
            "flow, two-class GMM (Adam P), guidance γ": (knob_axis(f["flow/guidance"], "guidance"), "guidance", None),
            "flow, two-class GMM (Adam P), Euler steps (γ = 1)": (knob_axis(f["flow/steps"], "steps"), "steps", None),
        },
        # Only where the whole sampler is neutral (q = p_θ).  ζ = 1 and γ = 1 on a finite DDIM or
        # Euler grid are still mode-seeking (discretisation), so their cosines are measurements.
        neutral={
            "Gaussian (exact, P = I), temperature T": 1.0,
            "tokens (exact, add-½ MLE base), temperature T": 1.0,
            "AR toy (Adam P), std temperature τ": 1.0,
        },
    )


def _draw_metric_vs_w(f: dict):
    fig = plots.metric_vs_w_figure(f["gaussian"], metric="result.nll_at_w", by=["base", "T"], predicted="result.w_star", best="result.best_w")
    fig.suptitle(f"Gaussian: population NLL of θ_Neon(w); predicted w* = −s/(αz) vs Brent's best w ({caption(f['gaussian'])})", fontsize=9)
    return fig


def _draw_budget(f: dict):
    g = f["gaussian"]
    return plots.panels(
        [
            dict(df=g, x="result.alpha", y="result.best_w", name="best w (Brent)", logx=True),
            dict(
                df=g,
                x="result.alpha",
                y="result.w_star",
                name="predicted w* = −s/(αz)",
                logx=True,
                zero=True,
                ylabel="w",
                title="Gaussian, T = 0.5, SGD (α = lr × steps)",
            ),
        ],
        dict(df=f["ar"], x="ft_epochs", y="result.best_w", hue="tau", logx=True, zero=True, ylabel="best w", title="AR toy, Adam"),
        title="best w vs fine-tuning budget",
    )


def _draw_size(f: dict):
    return plots.panels(
        dict(df=f["gaussian"], x="n_synthetic", y="result.gain", logx=True, zero=True, ylabel="gain in NLL at the best w", title="Gaussian, T = 0.5"),
        dict(df=f["ar"], x="n_synthetic", y="result.gain", hue="tau", logx=True, zero=True, ylabel="gain in FD at the best w", title="AR toy"),
        title="gain of Neon at its best w vs |S|",
    )


def warmup_finding(rate: pd.DataFrame) -> str:
    """What the per-draw sweep shows over its (D, n) settings (means over seeds): in how many the
    mean ΔL_pop is negative, and the range of a single draw's chance to improve (where it is lowest)."""
    means = ok_records(rate).groupby(["dim", "n"])[["result.mean_delta", "result.improvement_rate"]].mean()
    p = means["result.improvement_rate"]
    dim, n = p.idxmin()
    return (f"{tally('mean ΔL_pop < 0', means['result.mean_delta'], lambda v: v < 0, '(D, n) settings')}; "
            f"a single draw improves with P = {p.min():.2f} to {p.max():.2f} (lowest at D = {dim}, n = {n})")


def _draw_warmup(f: dict):
    curve = plots.explode_w(f["curve"], ["result.curve_mean"], w_col="a_values", name="a")
    curve["per_dim"] = curve["result.curve_mean"] / curve["dim"]
    return plots.panels(
        dict(df=curve, x="a", y="per_dim", hue="dim", zero=True, title="loss along Σ̂ + aΣ̂⁻¹, n = 30"),
        dict(
            df=f["rate"],
            x="n",
            y="result.improvement_rate",
            hue="dim",
            logx=True,
            ylabel="P(ΔL_pop < 0) per draw",
            title="per-draw improvement rate at a = 0.02",
        ),
        title=f"Gaussian warm-up (App. B.1): {warmup_finding(f['rate'])}",
    )


def mode_seeking_signs(g: pd.DataFrame) -> str:
    """The signs of s and of the best w under a mode-seeking sampler (T < 1), counted per base over
    its (T, seed) cells: the over-dispersed counterexample as the data show it."""
    ok = ok_records(g)
    ok = ok[ok["T"].astype(float) < 1]
    return "; ".join(
        f"{base}: {tally('s > 0', b['result.s'], lambda v: v > 0)}, {tally('best w < 0', b['result.best_w'], lambda v: v < 0)} (T, seed) cells"
        for base, b in ok.groupby("base", sort=True)
    )


def _draw_overdispersed(f: dict):
    g = f["gaussian"]
    return plots.panels(
        dict(df=g, x="T", y="result.s", hue="base", zero=1.0, ylabel="s (exact, P = I)", title="s = ⟨r_d, P r_s⟩"),
        dict(df=g, x="T", y="result.best_w", hue="base", zero=1.0, ylabel="best w (Brent on the NLL)", title="best w"),
        title=f"s and best w vs T per base; at T < 1, {mode_seeking_signs(g)}",
    )


def _draw_plane(f: dict):
    return plane_from_records(f["plane"])


def _draw_precision_recall(f: dict):
    return precision_recall_vs_w(f["ar"], by="tau")


# ---- drawings that know the toys' columns -------------------------------------------------


def _mark_degenerate(ax, df: pd.DataFrame, x: str) -> None:
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
        _mark_degenerate(ax, df, x)
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
    sharp, budget = official.TOY_AXES[toy]
    published = pd.DataFrame([{sharp: float(k[0]), budget: float(k[1]), "best_w": v} for k, v in official.PUBLISHED[toy]["best_w"].items()])
    cells = ok_records(ran)[[sharp, budget]].astype(float).drop_duplicates()
    return published.merge(cells, on=[sharp, budget])


def official_toy_figure(f: dict, toy: str):
    """Best w vs budget per sharpness (the published values as crosses, at the budgets that ran)
    and the P-cosine vs sharpness."""
    sharp, budget = official.TOY_AXES[toy]
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
    _mark_degenerate(right, f["cosine"], sharp)
    left.legend(fontsize=6, title=label(sharp), title_fontsize=6)
    right.legend(fontsize=6)
    fig.tight_layout()
    return fig


# ---- the catalogue ---------------------------------------------------------------------

register_figure(
    "cosine-vs-sharpness",
    "P-cosine vs sampler sharpness for every family and sampler, CI bands over seeds",
    {
        "gaussian": gaussian_temperature_spec,
        **{f"tokens/{k}": (lambda p, k=k: token_specs(p)[k]) for k in ("temperature", "top_k", "top_p")},
        "ar": ar_cosine_spec,
        "diffusion": diffusion_cosine_spec,
        **{f"flow/{k}": (lambda p, k=k: flow_specs(p)[k]) for k in ("guidance", "steps")},
    },
    _draw_cosine,
)
register_figure(
    "metric-vs-w",
    "population NLL vs w with the predicted w* and Brent's best w marked (Gaussian)",
    {"gaussian": gaussian_w_spec},
    _draw_metric_vs_w,
)
register_figure(
    "best-w-vs-budget",
    "best w vs fine-tuning budget, with the predicted w* ∝ 1/α (Gaussian) and the AR toy",
    {"gaussian": gaussian_budget_spec, "ar": ar_budget_spec},
    _draw_budget,
)
register_figure("gain-vs-size", "gain at the best w vs |S| (Gaussian, AR toy)", {"gaussian": gaussian_size_spec, "ar": ar_size_spec}, _draw_size)
register_figure(
    "warmup",
    "Gaussian warm-up: loss along Σ̂ + aΣ̂⁻¹ and the per-draw improvement rate vs D and n",
    {"curve": warmup_curve_spec, "rate": warmup_rate_spec},
    _draw_warmup,
)
register_figure(
    "over-dispersed",
    "the over-dispersed counterexample: s and best w vs T for both bases",
    {"gaussian": gaussian_temperature_spec},
    _draw_overdispersed,
)
register_figure("plane", "paper Fig. 2: log10 W2 over the (Neon, more-real-data) plane on the AR toy", {"plane": plane_spec}, _draw_plane)
register_figure("precision-recall-vs-w", "prdc precision and recall of θ_Neon(w) samples vs w (AR toy)", {"ar": precision_recall_spec}, _draw_precision_recall)
register_figure(
    "official-diffusion",
    "the official diffusion toy: best w per (ζ, budget) against the published values, and the P-cosine vs ζ",
    {"best_w": diffusion_best_w_spec, "cosine": diffusion_cosine_spec},
    lambda f: official_toy_figure(f, "diffusion"),
)
register_figure(
    "official-ar",
    "the official AR toy: best w per (τ, budget) against the published values, and the P-cosine vs τ",
    {"best_w": ar_best_w_spec, "cosine": ar_cosine_spec},
    lambda f: official_toy_figure(f, "ar"),
)
