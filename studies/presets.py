"""The presets every study shares, and the helpers that size a sweep by preset.

``smoke`` is CI-sized (2 seeds, coarse grids, small samples: minutes on a CPU); ``reduced`` and
``paper`` run the official sizes and the paper's grids (hours on a CPU, mostly the diffusion toy).
"""

from __future__ import annotations

import numpy as np

#: The one list of preset names, for every study, figure and command (registered with the run
#: layer by :mod:`studies.catalogue.figures`).
PRESETS = {
    "smoke": "CI-sized: 2 seeds, coarse grids, small samples (minutes on a CPU)",
    "reduced": "the official sizes and the paper's grids, but 4x fewer FD evaluation points in the diffusion toy",
    "paper": "the official sizes and the paper's grids (hours on a CPU, mostly the diffusion toy)",
}


def by_preset(smoke, paper, preset: str) -> tuple:
    """``smoke`` at the smoke preset, else ``paper`` (a grid of a sweep)."""
    return tuple(smoke if preset == "smoke" else paper)


def preset_seeds(preset: str, paper: int = 5) -> tuple:
    """Seeds 0 and 1 at the smoke preset, else the first ``paper`` seeds."""
    return (0, 1) if preset == "smoke" else tuple(range(paper))


def rounded(values) -> tuple:
    """Floats rounded to 6 decimals (a grid that reads the same in a sweep file)."""
    return tuple(float(v) for v in np.round(values, 6))


def sampler_grid(name: str, values) -> list[str]:
    """A sweep grid of samplers in the text syntax: ``name=v`` for each value (``temperature=0.5``, ``top-k=3``)."""
    from neon_theory.sampler_text import parse_sampler, sampler_text

    return [sampler_text(parse_sampler(f"{name}={v!r}")) for v in values]
