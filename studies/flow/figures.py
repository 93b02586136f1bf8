"""The flow study's sweeps (drawn in the catalogue's cosine-vs-sharpness)."""

from __future__ import annotations

from neon_theory.run.sweeps import SweepSpec

from ..presets import by_preset, preset_seeds, sampler_grid


def flow_specs(preset: str) -> dict:
    return {
        "guidance": SweepSpec(
            "flow-cell",
            grid={"sampler": sampler_grid("guidance", by_preset((0.5, 1.0, 2.0, 3.0), (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0), preset))},
            seeds=preset_seeds(preset),
            fixed={"preset": preset},  # 20 Euler steps
        ),
        "steps": SweepSpec(
            "flow-cell", grid={"sampler": sampler_grid("steps", by_preset((2, 5, 20), (1, 2, 3, 5, 10, 20, 50), preset))},
            seeds=preset_seeds(preset), fixed={"preset": preset},  # γ = 1
        ),
    }
