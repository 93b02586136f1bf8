"""The official diffusion toy's sweeps and its figure official-diffusion."""

from __future__ import annotations

from neon_theory.run.figures import register_figure
from neon_theory.run.sweeps import SweepSpec

from ..drawing import official_toy_figure
from ..presets import preset_seeds, sampler_grid
from .toy import DiffusionToyConfig


def diffusion_cosine_spec(preset: str) -> SweepSpec:
    """The diffusion toy's P-cosine vs ζ on the toy's own grid (``DiffusionToyConfig.cos_zetas``)."""
    zetas = DiffusionToyConfig.preset(preset).cos_zetas
    return SweepSpec("diffusion-cell", grid={"sampler": sampler_grid("score-scale", zetas)}, seeds=preset_seeds(preset), fixed={"preset": preset})


def diffusion_best_w_spec(preset: str) -> SweepSpec:
    """The official diffusion toy's best w (Brent on the FD) per (ζ, fine-tuning steps)."""
    toy = DiffusionToyConfig.preset(preset)
    return SweepSpec(
        "diffusion-cell", grid={"sampler": sampler_grid("score-scale", toy.zetas), "ft_steps": toy.ft_steps},
        seeds=preset_seeds(preset), fixed={"preset": preset, "cosine": False, "best_w": True},
    )


register_figure(
    "official-diffusion",
    "the official diffusion toy: best w per (ζ, budget) against the published values, and the P-cosine vs ζ",
    {"best_w": diffusion_best_w_spec, "cosine": diffusion_cosine_spec},
    lambda f: official_toy_figure(f, "diffusion"),
)
