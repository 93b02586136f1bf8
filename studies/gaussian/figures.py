"""The exact Gaussian study's sweeps and figures: metric-vs-w and the over-dispersed counterexample."""

from __future__ import annotations

import numpy as np

from neon_theory.run import plots
from neon_theory.run.figures import register_figure
from neon_theory.run.plots import (
    caption,
)
from neon_theory.run.sweeps import SweepSpec

from ..drawing import mode_seeking_signs
from ..presets import by_preset, preset_seeds, rounded, sampler_grid


def gaussian_temperature_spec(preset: str) -> SweepSpec:
    return SweepSpec(
        "gaussian-cell",
        grid={
            "sampler": sampler_grid("temperature", by_preset((0.5, 0.8, 1.25, 1.6), (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.05, 1.1, 1.25, 1.4, 1.6), preset)),
            "base": ["under-dispersed", "over-dispersed"],
        },
        seeds=preset_seeds(preset),
        fixed={"n_synthetic": 2000 if preset == "smoke" else 20000},
    )


def gaussian_w_spec(preset: str) -> SweepSpec:
    ws = rounded(np.linspace(-4, 5, 10 if preset == "smoke" else 37))
    return SweepSpec(
        "gaussian-cell",
        grid={"sampler": sampler_grid("temperature", [0.5, 1.6]), "base": ["under-dispersed", "over-dispersed"]},
        seeds=preset_seeds(preset),
        fixed={"w_values": ws, "n_synthetic": 2000 if preset == "smoke" else 20000},
    )


def gaussian_budget_spec(preset: str) -> SweepSpec:
    return SweepSpec(
        "gaussian-cell",
        grid={"steps": by_preset((2, 5, 10, 20, 40), (1, 2, 5, 10, 20, 40, 80), preset)},
        seeds=preset_seeds(preset),
        fixed={"sampler": "temperature=0.5", "n_synthetic": 2000 if preset == "smoke" else 20000},
    )


def gaussian_size_spec(preset: str) -> SweepSpec:
    return SweepSpec(
        "gaussian-cell",
        grid={"n_synthetic": by_preset((20, 200, 2000), (10, 30, 100, 300, 1000, 3000, 10000, 30000), preset)},
        seeds=preset_seeds(preset),
        fixed={"sampler": "temperature=0.5"},
    )


def draw_metric_vs_w(f: dict):
    fig = plots.metric_vs_w_figure(f["gaussian"], metric="result.nll_at_w", by=["base", "T"], predicted="result.w_star", best="result.best_w")
    fig.suptitle(f"Gaussian: population NLL of θ_Neon(w); predicted w* = −s/(αz) vs Brent's best w ({caption(f['gaussian'])})", fontsize=9)
    return fig


def draw_overdispersed(f: dict):
    g = f["gaussian"]
    return plots.panels(
        dict(df=g, x="T", y="result.s", hue="base", zero=1.0, ylabel="s (exact, P = I)", title="s = ⟨r_d, P r_s⟩"),
        dict(df=g, x="T", y="result.best_w", hue="base", zero=1.0, ylabel="best w (Brent on the NLL)", title="best w"),
        title=f"s and best w vs T per base; at T < 1, {mode_seeking_signs(g)}",
    )


register_figure(
    "metric-vs-w",
    "population NLL vs w with the predicted w* and Brent's best w marked (Gaussian)",
    {"gaussian": gaussian_w_spec},
    draw_metric_vs_w,
)

register_figure(
    "over-dispersed",
    "the over-dispersed counterexample: s and best w vs T for both bases",
    {"gaussian": gaussian_temperature_spec},
    draw_overdispersed,
)


#: how each fitting recipe of gaussian-fit-cell reads in a title, in drawing order
FIT_NAMES = {"mle": "base: the MLE", "smoothed": "base: the MLE + 0.2·I (smoothed)", "early-stopped": "base: 10 Adam steps from N(0, 4I) (early-stopped)"}
#: the sign-vs-fit grid: a mode-seeking temperature and its reciprocal (the control)
FIT_TEMPERATURES = (0.7, 1.43)


def fit_spec(preset: str) -> SweepSpec:
    """s at T = 0.7 and 1.43 for bases fitted to n draws of N(0, I_D) by MLE, smoothing or early stopping (30 scoring seeds)."""
    from ..scoring import scoring_seeds

    return SweepSpec(
        "gaussian-fit-cell",
        grid={"dim": by_preset((1, 10), (1, 2, 5, 10), preset), "n": by_preset((20,), (20, 200), preset),
              "fit": ["mle", "smoothed", "early-stopped"], "sampler": sampler_grid("temperature", FIT_TEMPERATURES)},
        seeds=scoring_seeds(preset, paper=30),
    )


def sign_share(rows, column: str = "result.s_natural"):
    """Per (fit, n, dim, T): the share of seeds with s < 0 and its 95% Clopper–Pearson interval."""
    import pandas as pd

    from neon_theory.run.claims import clopper_pearson

    out = []
    for (fit, n, dim, T), g in rows.groupby(["fit", "n", "dim", "T"]):
        k, m = int((g[column] < 0).sum()), len(g)
        lo, hi = clopper_pearson(k, m)
        out.append({"fit": fit, "n": n, "dim": dim, "T": T, "share": k / m, "lo": lo, "hi": hi, "seeds": m})
    return pd.DataFrame(out)


def draw_sign_vs_fit(f: dict):
    import matplotlib.pyplot as plt

    rows = f["cells"][f["cells"]["status"] == "ok"]
    table = sign_share(rows[rows["T"] < 1])
    fits = [f for f in FIT_NAMES if f in set(table["fit"])]
    fig, axes = plt.subplots(1, len(fits), figsize=(4.2 * len(fits), 3.6), squeeze=False, sharey=True)
    colours = plots.colours_for(plots.hue_levels(table["n"]))
    for ax, fit in zip(axes[0], fits):
        for n, g in table[table.fit == fit].groupby("n"):
            g = g.sort_values("dim")
            ax.errorbar(g["dim"], g["share"], yerr=[g["share"] - g["lo"], g["hi"] - g["share"]], marker="o", ms=4, capsize=2,
                        color=colours[plots.level_name(n)], label=f"n = {n}")
        ax.axhline(0.8, color="grey", ls="--", lw=0.8, label="the claim's bar (0.8)")
        ax.set_xscale("log")
        ax.set_xticks(sorted(table["dim"].unique()))
        ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("dimension D")
        ax.set_ylabel("share of seeds with s < 0 (natural P)")
        ax.set_title(FIT_NAMES[fit], fontsize=9)
        ax.legend(fontsize=6)
    fig.suptitle(f"Gaussian N(0, I_D), sampler T = {FIT_TEMPERATURES[0]:g}: how often s < 0, by how the base was fitted "
                 f"({plots.n_seeds(rows)} per point; bars: 95% Clopper–Pearson)", fontsize=9)
    fig.tight_layout()
    return fig


register_figure(
    "sign-vs-fit",
    "Gaussian bases fitted by MLE, smoothing or early stopping: the share of seeds with s < 0 at T = 0.7 vs dimension and training-set size",
    {"cells": fit_spec},
    draw_sign_vs_fit,
)
