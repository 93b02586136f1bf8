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
