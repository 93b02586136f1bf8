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
    gamma_mc="gamma with E[grad_Sigma L_pop] = -gamma Sigma*^-1, by Monte Carlo over draws (-tr G / D)",
    gamma_mc_se="its standard error over draws",
    gamma_closed_form="gamma = n(D+2)(2n-D-3) / (2(n-D-1)(n-D-2)(n-D-4)) from the Wishart moments (None where n <= D + 4)",
    slope_mc="the first-order change dDelta L/da at a = 0, tr(G Sigma_hat^-1), mean over draws",
    slope_mc_se="its standard error over draws",
    slope_decoupled_mc="the same with G and Sigma_hat^-1 from independent draws (its mean is the product of the expectations)",
    slope_decoupled_mc_se="its standard error over draws",
    slope_closed_form="the product of the expectations tr(E[G] E[Sigma_hat^-1]) = -gamma n D / (n-D-2) (None where n <= D + 4)",
))
def warmup_cell(cfg: WarmupCell, seed: int) -> dict:
    from toy_models.warmup import warmup_first_order, warmup_loss_change

    delta = warmup_loss_change(cfg.dim, cfg.n, (cfg.a, *cfg.a_values), cfg.draws, generator(seed, "warmup"))
    at_a, curve = delta[:, 0], delta[:, 1:]
    rate = float((at_a < 0).double().mean())
    first = warmup_first_order(cfg.dim, cfg.n, cfg.draws, generator(seed, "warmup-first-order"))
    mean, se = first.mean(0), first.std(0) / math.sqrt(cfg.draws)
    gamma = _gamma(cfg.n, cfg.dim)
    return {
        "gamma_mc": float(mean[0]),
        "gamma_mc_se": float(se[0]),
        "gamma_closed_form": gamma,
        "slope_mc": float(mean[1]),
        "slope_mc_se": float(se[1]),
        "slope_decoupled_mc": float(mean[2]),
        "slope_decoupled_mc_se": float(se[2]),
        "slope_closed_form": None if gamma is None else -gamma * cfg.n * cfg.dim / (cfg.n - cfg.dim - 2),
        "improvement_rate": rate,
        "improvement_rate_se": math.sqrt(rate * (1 - rate) / cfg.draws),
        "mean_delta": float(at_a.mean()),
        "mean_delta_se": float(at_a.std() / math.sqrt(cfg.draws)),
        "curve_mean": curve.mean(0).tolist(),
        "curve_se": (curve.std(0) / math.sqrt(cfg.draws)).tolist() if curve.shape[1] else [],
    }


def _gamma(n: int, dim: int) -> float | None:
    """App. B.1's γ(n, D) from the Wishart moments (:func:`neon_theory.symbolic.warmup_gamma`); ``None``
    where the second inverse moment does not exist (n ≤ D + 4)."""
    from neon_theory.symbolic import warmup_gamma

    if n <= dim + 4:
        return None
    gamma, n_, d_ = warmup_gamma()
    return float(gamma.subs({n_: n, d_: dim}))
