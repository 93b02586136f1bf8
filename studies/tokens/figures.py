"""The token study's sweeps (exact enumeration; drawn in the catalogue's cosine-vs-sharpness)."""

from __future__ import annotations

from neon_theory.run.sweeps import SweepSpec

from ..presets import by_preset, preset_seeds, sampler_grid


def _token_spec(name: str, values, preset: str) -> SweepSpec:
    return SweepSpec("token-cell", grid={"sampler": sampler_grid(name, values), "preconditioner": ["natural", "identity"]}, seeds=preset_seeds(preset, 10))


def token_specs(preset: str) -> dict:
    return {
        "temperature": _token_spec("temperature", by_preset((0.5, 0.8, 1.25, 1.6), (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.1, 1.25, 1.4, 1.6, 2.0), preset), preset),
        "top_k": _token_spec("top-k", (1, 2, 3), preset),
        "top_p": _token_spec("top-p", by_preset((0.5, 0.8, 1.0), (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0), preset), preset),
    }
