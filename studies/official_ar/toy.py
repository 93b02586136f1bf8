"""The official AR toy: p(x₁)p(x₂|x₁), its sizes, base model, fine-tuning, P-cosine probe and FD metric.

Std temperature τ (σ → τσ), fine-tuned with Adam at batch 2048; the notebook walks the
minibatches in order each epoch, here they are drawn at random without replacement (same
number of steps: epochs × ⌈n_s/2048⌉).  See :mod:`studies.official` for what the two official
toys share.
"""

from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

from neon_theory.checks import check_choice, check_int
from neon_theory.conditional import exact_conditional_probe
from neon_theory.device import accumulator_dtype, module_device
from neon_theory.neon import fit, self_train
from neon_theory.probe import CosineProbe, ProbeSizes, Rows, Streams, blocked_adam_probe, rqmc_probe
from neon_theory.rng import child_seed, generator
from neon_theory.samplers import Temperature
from toy_models.autoregressive import ARConditionalLoss, ARGaussianModel, model_rows, quadrature, target_rows
from toy_models.gmm import official_gaussian

from ..official import fd_metric, population_loss_metric
from ..presets import PRESETS


@dataclass(frozen=True)
class ARToyConfig(ProbeSizes):
    """Settings of the AR toy (``paper`` = the official sizes)."""

    n_base: int = 100
    base_steps: int = 1000
    base_lr: float = 5e-4
    taus: tuple = (0.5, 1.6)
    n_synthetic: int = 100_000
    ft_lr: float = 1e-4
    ft_batch: int = 2048
    ft_epochs: tuple = (50, 250)
    bracket: tuple = (-1.5, 1.5)
    xtol: float = 0.005
    n_eval: int = 50_000
    cos_taus: tuple = tuple(np.round(np.linspace(0.6, 1.4, 41), 6).tolist())
    cos_estimator: str = "exact"
    rqmc_rows: int = 131_072
    quadrature_nodes: int = 16
    loss_rows: int = 262_144
    loss_bracket: tuple = (-4.0, 4.0)

    def __post_init__(self):
        super().__post_init__()  # the probe sizes
        check_int("quadrature_nodes", self.quadrature_nodes, lo=2, hi=256)
        check_int("loss_rows", self.loss_rows, lo=20)
        check_choice("cos_estimator", self.cos_estimator, ("exact", "plain", "rqmc"))
        check_int("rqmc_rows", self.rqmc_rows, lo=2)
        if self.cos_estimator == "rqmc":
            check_int("n_batches", self.n_batches, lo=3)

    @classmethod
    def preset(cls, name: str) -> "ARToyConfig":
        """``paper`` (official sizes; ``reduced`` is the same, the AR toy being cheap) or ``smoke``."""
        check_choice("preset", name, PRESETS)
        if name in ("paper", "reduced"):
            return cls()
        return cls(
            n_synthetic=4096, ft_epochs=(5, 20), n_eval=20_000, cos_taus=(0.7, 1.0, 1.3), n_pop=8192, grad_batch=1024, n_batches=8, xtol=0.02, rqmc_rows=8192,
            loss_rows=16_384,
        )



def ar_base(cfg: ARToyConfig, seed: int) -> ARGaussianModel:
    """θ_r of the AR toy for one seed: trained on n_base real samples."""
    check_int("seed", seed, lo=0)
    torch.manual_seed(child_seed(seed, "init"))
    model = ARGaussianModel()
    real = official_gaussian().sample(cfg.n_base, generator(seed, "real")).float()
    fit(model, real, steps=cfg.base_steps, lr=cfg.base_lr, generator=generator(seed, "base"))
    return model


def ar_synthetic_set(model, cfg: ARToyConfig, seed: int, tau: float, n_synthetic: int | None = None) -> torch.Tensor:
    """S: ``n_synthetic`` (default the preset's) draws of θ_r at std temperature τ, on the set's own stream."""
    n = cfg.n_synthetic if n_synthetic is None else check_int("n_synthetic", n_synthetic, lo=2)
    return model.sample(n, Temperature(tau, "std"), generator(seed, f"S/{tau}" if n == cfg.n_synthetic else f"S/{tau}/{n}"))


def ar_finetune(model, cfg: ARToyConfig, seed: int, tau: float, n_synthetic: int | None = None) -> dict:
    """θ_s after each budget in ``cfg.ft_epochs`` (epochs → state), S of size n_synthetic drawn at std temperature τ."""
    S = ar_synthetic_set(model, cfg, seed, tau, n_synthetic)
    n = S.shape[0]
    steps_per_epoch = math.ceil(n / cfg.ft_batch)
    snaps = tuple(e * steps_per_epoch for e in cfg.ft_epochs)
    st = self_train(model, S, steps=max(snaps), lr=cfg.ft_lr, batch_size=min(cfg.ft_batch, n), generator=generator(seed, f"ft/{tau}"), snapshot_steps=snaps)
    return {e: st.snapshots[k] for e, k in zip(cfg.ft_epochs, snaps)}


def ar_cosine_probe(model, cfg: ARToyConfig, seed: int, rep: int = 0) -> CosineProbe:
    """P-cosine vs τ (Adam P at batch ``grad_batch``).

    ``cfg.cos_estimator``:

    * ``"exact"`` (default): computed, not estimated (:func:`~neon_theory.conditional.exact_conditional_probe`):
      x₂ | x₁ is Gaussian under the target and under the model at any τ, so the NLL's gradient
      moments given x₁ are closed forms, and the x₁ integral is a Gauss–Legendre quadrature split
      at the network's kinks (:func:`~toy_models.autoregressive.quadrature`, ``quadrature_nodes``
      per panel) on a float64 copy of θ_r; SEs are 0, the cosine is exact to about 1e-15 (a rule
      of twice the nodes moves it by ~1e-16; the float32 networks' own round-off is 1e-8 to 1e-7),
      and ``rep`` changes nothing;
    * ``"plain"``: the notebook's estimator: Adam P over one pass of ``n_pop`` population rows
      without replacement, common random numbers, jackknife SEs;
    * ``"rqmc"``: :func:`rqmc_probe` on ``rqmc_rows`` rows (on the paper bench's 4 bases × 2 τ its
      efficiency was 0.26–2.4·10⁴× the official estimator's, median ≈ 1.4×: units active on few
      rows keep P's estimate heavy-tailed, which quasi-random rows do not smooth).

    ``rep`` selects fresh estimator noise."""
    streams = Streams(seed, rep)
    if cfg.cos_estimator == "exact":
        target = official_gaussian()
        # a float64 copy of θ_r (the accumulator dtype of its device): in float32 the weighted
        # reductions alone would leave errors of 1e-8 to 1e-7 in the cosine; in float64, ~1e-16
        model = ARGaussianModel(copy.deepcopy(model.module).to(accumulator_dtype(module_device(model.module))))
        net = model.module

        def synthetic_support(tau):
            return quadrature(model_rows(model, Temperature(tau, "std")), net, nodes=cfg.quadrature_nodes)

        real = quadrature(target_rows(target.mean(), target.cov()), net, nodes=cfg.quadrature_nodes)
        return exact_conditional_probe(ARConditionalLoss(model), real, synthetic_support, cfg, streams, name="tau")
    if cfg.cos_estimator == "rqmc":
        return rqmc_probe(model, official_gaussian(), functools.partial(Temperature, convention="std"), cfg, streams, name="tau", rqmc_rows=cfg.rqmc_rows)
    pop = official_gaussian().sample(cfg.n_pop, streams.generator("pop")).float()
    P, edges = blocked_adam_probe(model, pop, cfg, streams)

    def synthetic_of(tau):
        return model.sample(cfg.n_pop, Temperature(tau, "std"), streams.generator(f"cos-S/{tau}"))

    return CosineProbe(model, pop, synthetic_of, P, sizes=cfg, streams=streams, name="tau", rows=Rows(edges))


def ar_fd_metric(cfg: ARToyConfig):
    return fd_metric(Temperature(1.0, "std"), cfg.n_eval)




def ar_loss_metric(cfg: ARToyConfig):
    """The population NLL, the risk Thm B.1 is about, for a best-w search, on ``loss_rows`` fixed target rows."""
    return population_loss_metric(cfg.loss_rows)
