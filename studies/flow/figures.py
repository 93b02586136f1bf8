"""The flow study's sweeps (drawn in the catalogue's cosine-vs-sharpness)."""

from __future__ import annotations

from neon_theory.run.sweeps import SweepSpec

from ..presets import by_preset, preset_seeds


def flow_specs(preset: str) -> dict:
    return {
        "guidance": SweepSpec(
            "flow-cell",
            grid={"value": by_preset((0.5, 1.0, 2.0, 3.0), (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0), preset)},
            seeds=preset_seeds(preset),
            fixed={"preset": preset, "knob": "guidance"},
        ),
        "steps": SweepSpec(
            "flow-cell", grid={"value": by_preset((2, 5, 20), (1, 2, 3, 5, 10, 20, 50), preset)},
            seeds=preset_seeds(preset), fixed={"preset": preset, "knob": "steps"},
        ),
    }
