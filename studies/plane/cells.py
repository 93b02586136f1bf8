"""Paper Fig. 2 on the AR toy, one seed per cell (``plane-cell``)."""

from __future__ import annotations

from dataclasses import dataclass

from neon_theory.checks import check_choice
from neon_theory.run.experiments import experiment

from ..common import results_of
from ..presets import PRESETS
from .toy import PlaneConfig, plane_summary, run_plane


@dataclass(frozen=True)
class PlaneCell:
    """The Fig. 2 plane (AR toy) for one seed at a preset of :class:`~studies.plane.toy.PlaneConfig`.

    Attributes:
        preset (str): ``smoke`` | ``reduced`` | ``paper`` (the plane's grid and the AR toy's sizes).
    """

    preset: str = "smoke"

    def __post_init__(self):
        check_choice("preset", self.preset, PRESETS)


@experiment("plane-cell", config=PlaneCell, results=results_of(
    w_s="the plane's w_s (the Neon axis) of each point",
    w_o="the plane's w_o (the 4x-more-real-data axis) of each point",
    log10_w2="log10 of the Wasserstein-2 distance to the target at each point",
    base="log10 W2 of the base model (w_s = w_o = 0)",
    neon_axis_best="the best log10 W2 on the Neon axis (w_o = 0)",
    neon_axis_best_w_s="the w_s where it is reached",
    real_axis_best="the best log10 W2 on the real-data axis (w_s = 0)",
    real_axis_best_w_o="the w_o where it is reached",
    plane_best="the best log10 W2 on the whole plane",
    plane_best_at="the (w_s, w_o) where it is reached",
    neon_matches_real="true when the Neon axis reaches a log10 W2 at least as low as the real-data axis",
))
def plane_cell(cfg: PlaneCell, seed: int) -> dict:
    df = run_plane(PlaneConfig.preset(cfg.preset), seed)
    return {"w_s": df.w_s.tolist(), "w_o": df.w_o.tolist(), "log10_w2": df.log10_w2.tolist(), **plane_summary(df)}
