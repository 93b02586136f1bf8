"""The official AR toy's sweeps and figures: official-ar and precision-recall-vs-w."""

from __future__ import annotations

import numpy as np

from neon_theory.run.figures import register_figure
from neon_theory.run.sweeps import SweepSpec

from ..drawing import official_toy_figure, precision_recall_vs_w
from ..presets import by_preset, preset_seeds, rounded, sampler_grid
from .toy import ARToyConfig


def ar_cosine_spec(preset: str) -> SweepSpec:
    """The AR toy's P-cosine vs τ on the toy's own grid (``ARToyConfig.cos_taus``)."""
    taus = ARToyConfig.preset(preset).cos_taus
    return SweepSpec("ar-cell", grid={"sampler": sampler_grid("std-temperature", taus)}, seeds=preset_seeds(preset), fixed={"preset": preset, "best_w": False})


def ar_best_w_spec(preset: str) -> SweepSpec:
    """The official AR toy's best w (Brent on the FD) per (τ, fine-tuning epochs)."""
    toy = ARToyConfig.preset(preset)
    return SweepSpec(
        "ar-cell", grid={"sampler": sampler_grid("std-temperature", toy.taus), "ft_epochs": toy.ft_epochs}, seeds=preset_seeds(preset),
        fixed={"preset": preset, "cosine": False},
    )


def ar_budget_spec(preset: str) -> SweepSpec:
    return SweepSpec(
        "ar-cell",
        grid={"ft_epochs": by_preset((5, 20), (25, 50, 100, 250), preset), "sampler": sampler_grid("std-temperature", [0.5, 1.6])},
        seeds=preset_seeds(preset),
        fixed={"preset": preset, "cosine": False},
    )


def ar_size_spec(preset: str) -> SweepSpec:
    return SweepSpec(
        "ar-cell",
        grid={"n_synthetic": by_preset((1024, 4096), (1000, 3000, 10000, 30000, 100000), preset), "sampler": sampler_grid("std-temperature", [0.5, 1.6])},
        seeds=preset_seeds(preset),
        fixed={"preset": preset, "cosine": False},
    )


def precision_recall_spec(preset: str) -> SweepSpec:
    ws = rounded(np.linspace(-1, 1, 5 if preset == "smoke" else 21))
    return SweepSpec(
        "ar-cell",
        grid={"sampler": sampler_grid("std-temperature", [0.5, 1.6])},
        seeds=preset_seeds(preset),
        fixed={"preset": preset, "cosine": False, "best_w": False, "w_values": ws, "n_pr": 2000 if preset == "smoke" else 10000},
    )


def draw_precision_recall(f: dict):
    return precision_recall_vs_w(f["ar"], by="tau")


register_figure("precision-recall-vs-w", "prdc precision and recall of θ_Neon(w) samples vs w (AR toy)", {"ar": precision_recall_spec}, draw_precision_recall)

register_figure(
    "official-ar",
    "the official AR toy: best w per (τ, budget) against the published values, and the P-cosine vs τ",
    {"best_w": ar_best_w_spec, "cosine": ar_cosine_spec},
    lambda f: official_toy_figure(f, "ar"),
)
