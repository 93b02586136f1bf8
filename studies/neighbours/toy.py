"""The exact 2-D mixture testbed of Neon's neighbours: a learnable Gaussian mixture fitted to a ring.

Truth: :func:`toy_models.gmm.ring` (six modes).  Model: a six-component :class:`~toy_models.mixture.MixtureModel`
fitted by full-batch Adam to ``n_train`` draws (an over-fitted, too-sharp base, as a finite-data MLE is).
Sampler: ``std-temperature=τ`` (each component's std × τ).  Fine-tuning: SGD, so P = I and
s = ⟨r_d, r_s⟩ needs only the two population gradients, which are computed on ``pop_rows``
randomised-QMC rows of the truth and of the sampler's law (both mixtures: exact densities).

Metrics:

- ``nll``: the population NLL E_truth[−log p_θ] on the same fixed QMC rows (exact log-density);
- ``w2``: the W₂ (POT's exact transport between two finite samples, so with a positive floor) between ``w2_rows`` draws of the exact-score DDIM sampler (η = 0,
  ``ddim_steps`` steps, Sobol initial noise common across w and ω) and as many fixed QMC rows of the
  truth: the one sampler that Neon's merged mixture and the score-space guidance share, so their
  W₂ compare like for like.  Not the FD: on a ring of modes the FD sees only the mean and covariance,
  and a random direction that spreads the base "improves" it as much as Neon does;
- ``precision``/``recall``: prdc's (k = 5) on ``prdc_rows`` draws against as many truth rows: of that sampler in
  ``mixture-neighbours-cell`` (base, Neon, guidance), of each generation's own mixture law directly in ``mixture-loop-cell``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from neon_theory.checks import check_choice, check_int, check_real
from neon_theory.rng import child_seed, generator
from neon_theory.samplers import Steps

from ..presets import PRESETS

#: the truth: a ring of six modes of std 0.5 at radius 3
RING = {"k": 6, "radius": 3.0, "std": 0.5}


@dataclass(frozen=True)
class MixtureToyConfig:
    """Sizes of the mixture testbed (``paper``; ``smoke`` for CI).

    Attributes:
        n_train (int): real draws the base is fitted to.
        n_components (int): the model's components.
        base_steps (int), base_lr (float): the base's full-batch Adam fit.
        n_synthetic (int): |S|.
        ft_steps (int), ft_lr (float): the self-training's SGD budget (constant rate; α = lr × steps).
        pop_rows (int): QMC rows of the population NLL and gradients.
        w2_rows (int), ddim_steps (int): the W₂'s draws (per side) and the exact-score DDIM's steps.
        prdc_rows (int): draws per side of precision and recall.
        bracket (tuple): the search bracket of w and of the guidance weight ω (θ_s is a short step away,
            so the scores differ little and ω, like w, must reach well beyond 1).
        xtol (float): Brent's tolerance on w and ω.
    """

    n_train: int = 300
    n_components: int = 6
    base_steps: int = 500
    base_lr: float = 0.05
    n_synthetic: int = 2000
    ft_steps: int = 20
    ft_lr: float = 0.01
    pop_rows: int = 65_536
    w2_rows: int = 1024
    ddim_steps: int = 25
    prdc_rows: int = 2000
    bracket: tuple = (-10.0, 20.0)
    xtol: float = 1e-3

    def __post_init__(self):
        for name in ("n_train", "base_steps", "n_synthetic", "ft_steps", "w2_rows", "ddim_steps"):
            check_int(name, getattr(self, name), lo=2)
        check_int("n_components", self.n_components, lo=1, hi=self.n_train)
        check_int("pop_rows", self.pop_rows, lo=20)
        check_int("prdc_rows", self.prdc_rows, lo=6)  # prdc's k = 5 neighbours
        check_real("base_lr", self.base_lr, 0.0, math.inf, lo_open=True)
        check_real("ft_lr", self.ft_lr, 0.0, math.inf, lo_open=True)
        check_real("xtol", self.xtol, 0.0, math.inf, lo_open=True)
        lo, hi = (check_real(f"bracket[{i}]", v) for i, v in enumerate(self.bracket))
        if not lo < 0 < hi:
            raise ValueError(f"bracket must hold w = 0 inside (lo < 0 < hi); got {self.bracket}")

    @classmethod
    def preset(cls, name: str) -> "MixtureToyConfig":
        check_choice("preset", name, PRESETS)
        if name in ("paper", "reduced"):
            return cls()
        return cls(n_train=200, base_steps=150, n_synthetic=500, pop_rows=8192, w2_rows=256, ddim_steps=10, prdc_rows=300, xtol=0.05)

    @property
    def sampler(self) -> Steps:
        """The evaluation sampler: exact-score DDIM, η = 0."""
        return Steps(self.ddim_steps, "ddim", eta=0.0)


def truth():
    from toy_models.gmm import ring

    return ring(**RING)


def training_set(cfg: MixtureToyConfig, seed: int) -> torch.Tensor:
    return truth().sample(cfg.n_train, generator(seed, "real"))


def fit_mixture(cfg: MixtureToyConfig, data: torch.Tensor, seed: int, stream: str = "base"):
    """A mixture fitted to ``data`` from :meth:`MixtureModel.initial` on ``stream`` (full-batch Adam, ``base_steps`` at ``base_lr``)."""
    from neon_theory.neon import fit
    from toy_models.mixture import MixtureModel

    model = MixtureModel.initial(data, cfg.n_components, generator(seed, f"{stream}/init"))
    st = fit(model, data, steps=cfg.base_steps, lr=cfg.base_lr, generator=generator(seed, stream))
    model.module.load_state_dict(st.state_dict)
    return model


def mixture_base(cfg: MixtureToyConfig, seed: int):
    """θ_r of ``seed``: the mixture fitted to its ``n_train`` real draws."""
    return fit_mixture(cfg, training_set(cfg, seed), seed)


def population_rows(cfg: MixtureToyConfig, law=None, stream: str = "pop", n: int | None = None):
    """``n`` (default ``pop_rows``) scrambled-Sobol draws of ``law`` (default: the truth), one scramble for every seed."""
    from neon_theory.qmc import sobol_uniforms

    law = truth() if law is None else law
    return law.sample_from_uniform(sobol_uniforms(cfg.pop_rows if n is None else n, law.uniform_dim(), child_seed(0, stream)))


def nll_metric(cfg: MixtureToyConfig):
    """metric(model, g): the population NLL on the fixed truth rows (no noise to share)."""
    rows = population_rows(cfg)

    def metric(model, g):
        with torch.no_grad():
            return float(model.per_example_loss(rows).mean())

    return metric


def exact_score_sampler(model):
    """The exact-score DDIM sampler of a mixture model's own law (τ = 1)."""
    from toy_models.diffusion import ExactScoreDiffusion, Schedule

    return ExactScoreDiffusion(model.gmm(), Schedule("cosine", 1000))


def w2_of(cfg: MixtureToyConfig, sampler_of=exact_score_sampler):
    """metric(model, g): the W₂ (POT) between ``w2_rows`` draws of ``sampler_of(model)`` (exact-score DDIM; Sobol
    initial noise scrambled by g, so common across w and ω) and ``w2_rows`` fixed QMC rows of the truth."""
    from neon_theory.metrics import wasserstein2_empirical

    from ..official import evaluation_draws

    real = population_rows(cfg, stream="w2-truth", n=cfg.w2_rows)

    def metric(model, g):
        x = evaluation_draws(sampler_of(model), cfg.sampler, cfg.w2_rows, g, "rqmc").double()
        if not bool(torch.isfinite(x).all()):
            return 1e6  # a diverged merge: worse than anything finite
        return wasserstein2_empirical(x, real)

    return metric


def precision_recall(cfg: MixtureToyConfig, draws: torch.Tensor, seed: int) -> dict:
    """prdc's precision and recall (k = 5) of ``draws`` against as many fresh truth rows."""
    from neon_theory.metrics import precision_recall as prdc

    x = draws[: cfg.prdc_rows]
    precision, recall = prdc(truth().sample(x.shape[0], generator(seed, "prdc-real")), x)
    return {"precision": precision, "recall": recall}


def exact_s(cfg: MixtureToyConfig, model, tau: float) -> dict:
    """s = ⟨r_d, r_s⟩ (SGD: P = I) and the cosine, r_d and r_s on ``pop_rows`` QMC rows of the truth and of the sampler's law."""
    from neon_theory.gradients import population_gradient

    r_d = population_gradient(model, population_rows(cfg)).mean
    r_s = population_gradient(model, population_rows(cfg, model.gmm(tau), stream="pop-synthetic")).mean
    s = float(r_d @ r_s)
    norm = float(r_d.norm() * r_s.norm())
    return {"s": s, "cosine": s / norm if norm > 0 else None, "r_s": r_s}
