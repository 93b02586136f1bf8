"""The Gaussian warm-up (App. B.1): Monte Carlo over training draws of the loss change along Σ̂ + aΣ̂⁻¹ (``warmup-cell``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from neon_theory.checks import check_int, check_real
from neon_theory.rng import generator
from neon_theory.run.experiments import experiment

from ..common import check_ws, results_of


@dataclass(frozen=True)
class WarmupCell:
    """Monte Carlo over training draws of the warm-up ΔL_pop along Σ̂ + aΣ̂⁻¹.

    Attributes:
        dim (int): D in [1, inf).
        n (int): training-set size in [D + 1, inf).
        a (float): the step a = ½(1 − τ²)wη whose per-draw improvement rate is reported.
        a_values (tuple): a grid for the loss curve (mean ΔL ± SE per a).
        draws (int): training draws in [2, inf).
    """

    dim: int = 2
    n: int = 20
    a: float = 0.02
    a_values: tuple = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4)
    draws: int = 2000

    def __post_init__(self):
        check_int("dim", self.dim, lo=1)
        check_int("n", self.n, lo=self.dim + 1)
        check_real("a", self.a, 0.0, math.inf)
        check_ws("a_values", self.a_values)
        for v in self.a_values:
            check_real("a_values", v, 0.0, math.inf)
        check_int("draws", self.draws, lo=2)


@experiment("warmup-cell", config=WarmupCell, results=results_of(
    improvement_rate="the share of training draws whose population loss falls at the step a (Delta L < 0)",
    improvement_rate_se="its binomial standard error over draws",
    mean_delta="the mean change of the population loss Delta L at the step a",
    mean_delta_se="its standard error over draws",
    curve_mean="the mean Delta L at each of a_values",
    curve_se="its standard error over draws at each of a_values",
))
def warmup_cell(cfg: WarmupCell, seed: int) -> dict:
    from toy_models.warmup import warmup_loss_change

    delta = warmup_loss_change(cfg.dim, cfg.n, (cfg.a, *cfg.a_values), cfg.draws, generator(seed, "warmup"))
    at_a, curve = delta[:, 0], delta[:, 1:]
    rate = float((at_a < 0).double().mean())
    return {
        "improvement_rate": rate,
        "improvement_rate_se": math.sqrt(rate * (1 - rate) / cfg.draws),
        "mean_delta": float(at_a.mean()),
        "mean_delta_se": float(at_a.std() / math.sqrt(cfg.draws)),
        "curve_mean": curve.mean(0).tolist(),
        "curve_se": (curve.std(0) / math.sqrt(cfg.draws)).tolist() if curve.shape[1] else [],
    }
