"""Paper Fig. 2 on the AR toy: the sweep and the figure plane."""

from __future__ import annotations

from neon_theory.run.figures import register_figure
from neon_theory.run.sweeps import SweepSpec

from ..drawing import plane_from_records
from ..presets import preset_seeds


def plane_spec(preset: str) -> SweepSpec:
    return SweepSpec("plane-cell", seeds=preset_seeds(preset), fixed={"preset": preset})


def draw_plane(f: dict):
    return plane_from_records(f["plane"])


register_figure("plane", "paper Fig. 2: log10 W2 over the (Neon, more-real-data) plane on the AR toy", {"plane": plane_spec}, draw_plane)
