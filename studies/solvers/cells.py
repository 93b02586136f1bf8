"""How a finite-step solver moves the terminal law, driven by the exact score (``solver-cell``).

The sampler is :class:`~toy_models.diffusion.ExactScoreDiffusion` on a GMM target, so the model
is the target itself and every change of the terminal law is the solver's (App. B.7's bias, the
law A-MONO is about).  ``solver = "exact"`` draws from the target itself: the neutral sampler.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from neon_theory.checks import check_choice, check_int
from neon_theory.run.experiments import experiment

from ..common import results_of

#: the solvers a cell runs: the ODE solvers of :class:`~neon_theory.samplers.Steps` and the target's own draws
SOLVERS = ("ddim", "euler", "heun", "midpoint", "exact")
#: the targets: the official toys' Gaussian, and a ring of eight narrow Gaussians (multimodal)
TARGETS = ("gaussian", "ring")


@dataclass(frozen=True)
class SolverCell:
    """The terminal law of one solver at one step count against the target's (exact score, no learning error).

    Attributes:
        target (str): ``gaussian`` (N(0, [[2, 1], [1, 2]]), the official toys') or ``ring`` (eight
            Gaussians of std 0.3 on a circle of radius 4).
        solver (str): ``ddim`` (η = 0, on the training grid subsampled), ``euler``, ``heun`` or
            ``midpoint`` (the probability-flow ODE on an EDM ρ = 7 σ-grid), or ``exact`` (the
            target's own draws: the neutral sampler).
        steps (int): solver steps in [1, 1000] (ignored by ``exact``).
        n (int): samples in [100, inf) (one noise stream per seed: common random numbers across steps).
    """

    target: str = "gaussian"
    solver: str = "ddim"
    steps: int = 10
    n: int = 20_000

    def __post_init__(self):
        check_choice("target", self.target, TARGETS)
        check_choice("solver", self.solver, SOLVERS)
        check_int("steps", self.steps, lo=1, hi=1000)
        check_int("n", self.n, lo=100)


@experiment("solver-cell", config=SolverCell, results=results_of(
    trace_shift="tr Cov of the samples minus the target's: below 0 the law is sharper (mode-seeking)",
    trace_se="the Monte Carlo standard error of tr Cov: the SD of the squared distances from the mean over sqrt(n) (any law)",
    mean_shift="the distance of the samples' mean from the target's",
    fd="the Gaussian Frechet distance of the samples' moments to the target's",
))
def solver_cell(cfg: SolverCell, seed: int) -> dict:
    import torch

    from neon_theory.metrics import gaussian_frechet_distance, sample_moments
    from neon_theory.rng import generator
    from neon_theory.samplers import Steps
    from toy_models.diffusion import ExactScoreDiffusion
    from toy_models.gmm import official_gaussian, ring

    target = official_gaussian() if cfg.target == "gaussian" else ring()
    g = generator(seed, f"solver-cell/{cfg.target}")
    if cfg.solver == "exact":
        x = target.sample(cfg.n, g)
    else:
        x = ExactScoreDiffusion(target).sample(cfg.n, Steps(cfg.steps, cfg.solver, **({"eta": 0.0} if cfg.solver == "ddim" else {})), g)
    mean, cov = sample_moments(x.double())
    ref_mean, ref_cov = target.mean(), target.cov()
    return {
        "trace_shift": float(torch.trace(cov) - torch.trace(ref_cov)),
        "trace_se": float(((x.double() - mean) ** 2).sum(1).std() / math.sqrt(cfg.n)),
        "mean_shift": float((mean - ref_mean).norm()),
        "fd": gaussian_frechet_distance(mean, cov, ref_mean, ref_cov),
    }
