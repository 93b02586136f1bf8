"""The official diffusion toy: its sizes, base model, fine-tuning, P-cosine probe and FD metric.

Cosine schedule ᾱ_t = f(t)/f(0) (so ᾱ_0 = 1), T = 1000 for training; sampling uses a fresh
cosine schedule of length 20 with network time input t/19.  The notebook asks for DDIM with
η = 1, but its σ_t formula uses 1 − α_t/ᾱ_t (instead of 1 − ᾱ_t/ᾱ_{t−1}), which is ≤ 0 and
clamped to 0: the sampler it ran is *deterministic* DDIM.  The ``paper`` preset therefore uses
η = 0 (``eta`` is a config field).  ζ multiplies the score inside x̂₀ only.  See
:mod:`studies.official` for what the two official toys share.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from neon_theory.checks import check_choice, check_int
from neon_theory.neon import fit, self_train
from neon_theory.probe import COS_ESTIMATORS, CosineProbe, ProbeSizes, Rows, Streams, blocked_adam_probe, rqmc_probe
from neon_theory.rng import child_seed, generator
from neon_theory.samplers import Chain, ScoreScale, Steps
from toy_models._conditional import TimeMLP
from toy_models.diffusion import DiffusionModel, PosteriorTargetDiffusion, Schedule
from toy_models.gmm import official_gaussian

from ..official import fd_metric, population_loss_metric
from ..presets import PRESETS


@dataclass(frozen=True)
class DiffusionToyConfig(ProbeSizes):
    """Settings of the diffusion toy (``paper`` = the official sizes and grids).

    Two estimates are computed with randomised quasi-Monte Carlo by default, each more precise
    than the official sizes give (``neon-theory bench`` measures both against them):

    * the P-cosine (``cos_estimator="variance-reduced"``) on ``rqmc_rows`` = 2¹⁶ rows instead
      of n_pop × noise_draws = 1.6·10⁶;
    * the FD of the best-w search (``fd_sampling="rqmc"``) on ``rqmc_eval`` = 2¹⁷ Sobol points,
      whose SD over scrambles was 2.9·10⁻⁵ against 5.2·10⁻⁴ for 10⁶ independent draws (seed-0
      base, 6 repeats each), at 1/7.6 of the time.

    ``cos_estimator="plain"`` and ``fd_sampling="mc"`` give the notebook's estimators (with
    common random numbers) at the official sizes.
    """

    n_base: int = 1000
    base_steps: int = 10_000
    base_lr: float = 1e-4
    sample_steps: int = 20
    eta: float = 0.0
    zetas: tuple = (0.9, 1.1)
    n_synthetic: int = 1000
    ft_lr: float = 1e-5
    ft_steps: tuple = (50, 250)
    bracket: tuple = (-3.0, 3.0)
    xtol: float = 0.01
    n_eval: int = 1_000_000
    cos_zetas: tuple = tuple(np.round(np.linspace(0.8, 1.2, 46), 6).tolist())
    noise_draws: int = 16
    cos_estimator: str = "variance-reduced"
    rqmc_rows: int = 65_536
    fd_sampling: str = "rqmc"
    rqmc_eval: int = 131_072
    loss_rows: int = 262_144

    def __post_init__(self):
        super().__post_init__()  # the probe sizes
        check_choice("cos_estimator", self.cos_estimator, COS_ESTIMATORS)
        check_int("rqmc_rows", self.rqmc_rows, lo=2)
        check_choice("fd_sampling", self.fd_sampling, ("mc", "rqmc"))
        if self.cos_estimator != "plain":
            check_int("n_batches", self.n_batches, lo=3)  # the moment P's jackknife debiases r̂² on the blocks left
        check_int("rqmc_eval", self.rqmc_eval, lo=2)
        check_int("loss_rows", self.loss_rows, lo=20)  # auto w cuts them into 20 batches
        if self.eta != 0 and (self.fd_sampling == "rqmc" or self.cos_estimator != "plain"):
            raise ValueError(
                f"eta must be 0 (a deterministic sampler) for rqmc estimates; got eta={self.eta:g} (set cos_estimator='plain' and fd_sampling='mc')"
            )

    @classmethod
    def preset(cls, name: str) -> "DiffusionToyConfig":
        """``paper`` (official sizes; see the class docstring for the two rqmc estimates),
        ``reduced`` (the same but 2¹⁵ FD points, or 10⁵ draws with ``fd_sampling="mc"``; FD
        differences across w share their noise) or ``smoke`` (CI-sized)."""
        check_choice("preset", name, PRESETS)
        if name == "paper":
            return cls()
        if name == "reduced":
            return cls(n_eval=100_000, rqmc_eval=32_768)
        return cls(
            base_steps=800, base_lr=2e-3, n_synthetic=500, ft_lr=1e-4, ft_steps=(10, 50), n_eval=20_000,
            cos_zetas=(0.85, 1.0, 1.15), n_pop=4000, noise_draws=2, grad_batch=500, n_batches=8, xtol=0.05, rqmc_rows=8000, rqmc_eval=16_384,
            loss_rows=16_384,
        )



def training_set(cfg: DiffusionToyConfig, seed: int) -> torch.Tensor:
    """The n_base real samples θ_r of ``seed`` is trained on."""
    return official_gaussian().sample(cfg.n_base, generator(seed, "real")).float()


#: the target's principal axes: its covariance [[2, 1], [1, 2]] has variance 3 along (1, 1)/√2 and 1 along (1, -1)/√2
AXES = {"major": (torch.tensor([1.0, 1.0], dtype=torch.float64) / 2**0.5, 3.0), "minor": (torch.tensor([1.0, -1.0], dtype=torch.float64) / 2**0.5, 1.0)}


def training_spread(cfg: DiffusionToyConfig, seed: int) -> dict:
    """The variance of the training set along each principal axis of the target, divided by the
    target's (1 = right, below 1 = the set, and so the base model, too sharp along that axis)."""
    x = training_set(cfg, seed).double()
    return {f"train_var_{name}": float((x @ axis).var()) / var for name, (axis, var) in AXES.items()}


def diffusion_base(cfg: DiffusionToyConfig, seed: int) -> DiffusionModel:
    """θ_r of the diffusion toy for one seed: the official MLP trained on n_base real samples."""
    check_int("seed", seed, lo=0)
    torch.manual_seed(child_seed(seed, "init"))
    model = DiffusionModel(TimeMLP(2), Schedule("cosine", 1000), grid="own")
    fit(model, training_set(cfg, seed), steps=cfg.base_steps, lr=cfg.base_lr, generator=generator(seed, "base"))
    return model


def diffusion_sampler(cfg: DiffusionToyConfig, zeta: float) -> Chain:
    return Chain((Steps(cfg.sample_steps, "ddim", eta=cfg.eta), ScoreScale(zeta, "x0")))


def diffusion_synthetic_set(model, cfg: DiffusionToyConfig, seed: int, zeta: float) -> torch.Tensor:
    """S: ``n_synthetic`` draws of θ_r at score scale ζ on the preset's DDIM grid, on the set's own stream."""
    return model.sample(cfg.n_synthetic, diffusion_sampler(cfg, zeta), generator(seed, f"S/{zeta}"))


def diffusion_finetune(model, cfg: DiffusionToyConfig, seed: int, zeta: float) -> dict:
    """θ_s after each budget in ``cfg.ft_steps`` (one run, snapshots; full-batch Adam), S drawn at score scale ζ."""
    S = diffusion_synthetic_set(model, cfg, seed, zeta)
    st = self_train(model, S, steps=max(cfg.ft_steps), lr=cfg.ft_lr, generator=generator(seed, f"ft/{zeta}"), snapshot_steps=cfg.ft_steps)
    return dict(st.snapshots)


def diffusion_cosine_probe(model, cfg: DiffusionToyConfig, seed: int, rep: int = 0) -> CosineProbe:
    """P-cosine (Adam P, CRN) vs ζ, as the notebook: every population sample carries
    ``noise_draws`` (t, ε) draws, and P's minibatch second moment walks the population set
    once per draw (minibatch ``grad_batch``).  ``cfg.cos_estimator`` picks the estimator
    (:data:`COS_ESTIMATORS`; the estimand is the same).  ``rep`` selects fresh estimator noise."""
    streams = Streams(seed, rep)
    target = official_gaussian()
    if cfg.cos_estimator != "plain":
        real_model = PosteriorTargetDiffusion(model, target) if cfg.cos_estimator == "variance-reduced" else None
        return rqmc_probe(model, target, functools.partial(diffusion_sampler, cfg), cfg, streams, name="zeta", rqmc_rows=cfg.rqmc_rows, real_model=real_model)
    pop = target.sample(cfg.n_pop, streams.generator("pop")).float()
    P, edges = blocked_adam_probe(model, pop, cfg, streams, copies=cfg.noise_draws)

    def synthetic_of(zeta):
        S = model.sample(cfg.n_pop, diffusion_sampler(cfg, zeta), streams.generator(f"cos-S/{zeta}"))
        return S.repeat_interleave(cfg.noise_draws, dim=0)

    return CosineProbe(model, pop.repeat_interleave(cfg.noise_draws, dim=0), synthetic_of, P, sizes=cfg, streams=streams, name="zeta", rows=Rows(edges))



def diffusion_fd_metric(cfg: DiffusionToyConfig):
    sampler = Steps(cfg.sample_steps, "ddim", eta=cfg.eta)
    if cfg.fd_sampling == "rqmc":
        return fd_metric(sampler, cfg.rqmc_eval, "rqmc")
    return fd_metric(sampler, cfg.n_eval)


def diffusion_loss_metric(cfg: DiffusionToyConfig):
    """The population denoising loss, the risk Thm B.1 is about, for a best-w search on ``loss_rows``
    fixed target rows.  It regresses ε̂ on the exact E[ε | x_t] (:class:`PosteriorTargetDiffusion`),
    which differs from the plain denoising loss by a constant free of θ: the same best w, with
    far less noise."""
    return population_loss_metric(cfg.loss_rows, lambda m: PosteriorTargetDiffusion(m, official_gaussian()))

