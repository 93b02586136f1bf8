"""The token study's sweeps (exact enumeration; drawn in the catalogue's cosine-vs-sharpness)."""

from __future__ import annotations

from neon_theory.run.sweeps import SweepSpec

from ..presets import by_preset, preset_seeds


def _token_spec(knob: str, values, preset: str) -> SweepSpec:
    return SweepSpec("token-cell", grid={"value": values, "preconditioner": ["natural", "identity"]}, seeds=preset_seeds(preset, 10), fixed={"knob": knob})


def token_specs(preset: str) -> dict:
    return {
        "temperature": _token_spec("temperature", by_preset((0.5, 0.8, 1.25, 1.6), (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.1, 1.25, 1.4, 1.6, 2.0), preset), preset),
        "top_k": _token_spec("top_k", (1, 2, 3), preset),
        "top_p": _token_spec("top_p", by_preset((0.5, 0.8, 1.0), (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0), preset), preset),
    }
