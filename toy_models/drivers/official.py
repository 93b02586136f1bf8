"""The two official toys of the Neon paper (its toy notebook), reproduced with seeds and error bars.

Both run on the engine only (sampling, :func:`self_train`, :func:`merge`, Brent search,
:func:`paired_population_gradients`, :func:`adam_minibatch`, :func:`alignment`).

What the official notebook actually does, and what is reproduced here:

* **Diffusion.** Cosine schedule ᾱ_t = f(t)/f(0) (so ᾱ_0 = 1), T = 1000 for training;
  sampling uses a fresh cosine schedule of length 20 with network time input t/19.  The
  notebook asks for DDIM with η = 1, but its σ_t formula uses 1 − α_t/ᾱ_t (instead of
  1 − ᾱ_t/ᾱ_{t−1}), which is ≤ 0 and clamped to 0: the sampler it ran is *deterministic*
  DDIM.  The ``paper`` preset therefore uses η = 0 (``eta`` is a config field).  ζ
  multiplies the score inside x̂₀ only.
* **AR.** p(x₁)p(x₂|x₁), std temperature τ (σ → τσ), fine-tuned with Adam at batch 2048;
  the notebook walks the minibatches in order each epoch, here they are drawn at random
  without replacement (same number of steps: epochs × ⌈n_s/2048⌉).

The best w is found by bounded Brent search on the FD (common evaluation noise across w),
not by the notebook's dense grid.  The experiments ``ar-cell`` and ``diffusion-cell``
(:mod:`toy_models.drivers.experiments`) run one (sharpness, budget, seed) cell each; the
figures ``official-ar`` and ``official-diffusion`` (``neon-theory toys``) run them over seeds.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import torch

from neon_theory._validation import check_choice, check_int
from neon_theory.alignment import alignment
from neon_theory.gradients import GradientEstimate, ModelLaw, paired_population_gradients
from neon_theory.metrics import frechet_distance_from_samples
from neon_theory.neon import fit, self_train
from neon_theory.preconditioners import adam_minibatch
from neon_theory.qmc import sobol_uniforms
from neon_theory.rng import child_seed, generator
from neon_theory.samplers import Chain, ScoreScale, Steps, Temperature

from .._conditional import TimeMLP
from ..autoregressive import ARGaussianModel
from ..diffusion import DiffusionModel, PosteriorTargetDiffusion, Schedule
from ..gmm import official_gaussian

#: The one list of preset names, for every toy, figure and command (registered with the run
#: layer by :mod:`toy_models.drivers.figures`).
PRESETS = {
    "smoke": "CI-sized: 2 seeds, coarse grids, small samples (minutes on a CPU)",
    "reduced": "the official sizes and the paper's grids, but 4x fewer FD evaluation points in the diffusion toy",
    "paper": "the official sizes and the paper's grids (hours on a CPU, mostly the diffusion toy)",
}

#: each official toy's sharpness knob and fine-tuning budget (the columns of its best-w cells)
TOY_AXES = {"diffusion": ("zeta", "ft_steps"), "ar": ("tau", "ft_epochs")}

PUBLISHED = {
    "diffusion": {
        "base_log10_fd": -0.80,
        "best_w": {(1.1, 50): 1.2, (1.1, 250): 0.28, (0.9, 50): -1.1, (0.9, 250): -0.28},
        "best_log10_fd": {1.1: -1.47, 0.9: -1.28},
        "cosine": "≈ +0.1 below ζ ≈ 0.98, −0.17…−0.34 above (negative already at ζ = 1)",
    },
    "ar": {
        "base_fd": 0.099,
        "best_w": {(0.5, 50): 0.2, (0.5, 250): 0.1, (1.6, 50): -0.25, (1.6, 250): -0.175},
        "cosine": "≈ −0.5 for every τ < 1, ≈ +0.5 for every τ > 1",
    },
}


#: How the diffusion toy's P-cosine is estimated (the estimand is the same; see ``neon-theory bench``).
COS_ESTIMATORS = {
    "plain": "the notebook's estimator with common random numbers and blocks: r_d on the plain loss, P from Adam's EMA",
    "rqmc": "randomised quasi-Monte Carlo: rows and loss noise from scrambled Sobol points (one scramble per batch), "
    "the synthetic rows from the sampler driven by the same uniforms, P's E[g_B²] from per-example gradient moments",
    "variance-reduced": "rqmc, and r_d regresses on the exact E[ε | x_t] of the known target (PosteriorTargetDiffusion)",
}


@dataclass(frozen=True)
class ProbeSizes:
    """Sizes of a toy's P-cosine probe: population rows, minibatch of the gradient and Adam
    passes, and the batches of the standard errors (the official notebook's values)."""

    n_pop: int = 100_000
    grad_batch: int = 2048
    n_batches: int = 32

    def to_dict(self) -> dict:
        return asdict(self)


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

    def __post_init__(self):
        check_choice("cos_estimator", self.cos_estimator, COS_ESTIMATORS)
        check_int("rqmc_rows", self.rqmc_rows, lo=2)
        check_choice("fd_sampling", self.fd_sampling, ("mc", "rqmc"))
        if self.cos_estimator != "plain":
            check_int("n_batches", self.n_batches, lo=3)  # the moment P's jackknife debiases r̂² on the blocks left
        check_int("rqmc_eval", self.rqmc_eval, lo=2)
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
        )


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
    cos_estimator: str = "plain"
    rqmc_rows: int = 131_072

    def __post_init__(self):
        check_choice("cos_estimator", self.cos_estimator, ("plain", "rqmc"))
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
        )


def _fd_metric(sampler, n_eval: int, sampling: str = "mc"):
    """FD to the truth of ``n_eval`` samples: independent draws from the evaluation stream, or
    (``sampling="rqmc"``) a deterministic sampler on scrambled Sobol initial noise whose scramble
    is the evaluation stream's seed, so common across w."""
    target = official_gaussian()

    def draws(model, g):
        if sampling == "rqmc":
            return model.sample_from_uniform(sobol_uniforms(n_eval, model.sample_uniform_dim(sampler), g.initial_seed() % 2**63), sampler)
        return model.sample(n_eval, sampler, g)

    def metric(model, g):
        x = draws(model, g).double()
        if not bool(torch.isfinite(x).all()):
            return 1e6  # a diverged merge: worse than anything finite
        return frechet_distance_from_samples(x, target.mean(), target.cov())

    return metric


class CosineProbe:
    """The P-cosine at any sharpness value for one (model, seed), with CRN: the real-data
    gradient estimate and P are computed once, and every synthetic set is evaluated on the
    same loss-noise stream as the real set.

    ``real`` and every synthetic set are read in contiguous batches (``batch_edges``, rows)
    for the standard errors, so a set that holds several loss-noise draws per sample must keep
    a sample's copies together (``repeat_interleave``): copies spread over several batches
    would make the batch means share their data and the SE would miss the sampling variance.
    When P is a :class:`~neon_theory.preconditioners.BlockDiagonal` estimated on the real rows
    with the same blocks, the jackknife also resamples P.  ``rep`` names the estimator's random
    streams (0 = the standard ones); the same rep on the same model is a deterministic repeat,
    another rep is a repeat with fresh estimator noise.  ``real_model`` (default ``model``)
    computes r_d: a model with the same module whose loss has the same expected gradient on
    real rows but less noise (e.g. :class:`~toy_models.diffusion.PosteriorTargetDiffusion`).
    ``real`` and the synthetic sources may also be laws (``n`` rows each, e.g. with
    ``sampling="rqmc"``: see :func:`~neon_theory.gradients.paired_population_gradients`);
    ``real_estimate``: r_d already computed on those rows and batches (then not recomputed)."""

    def __init__(
        self, model, real, synthetic_of, cfg, seed: int, P, name: str, rep: int = 0, batch_edges=None, real_model=None,
        *, n: int | None = None, sampling: str = "mc", real_estimate=None,
    ):
        self.model, self.synthetic_of, self.cfg, self.seed, self.P, self.name = model, synthetic_of, cfg, seed, P, name
        self.n, self.sampling = n, sampling
        self.rep = check_int("rep", rep, lo=0)
        self.batch_edges = batch_edges
        self.noise_seed = child_seed(seed, estimator_stream("cos-noise", rep))
        self.real = real
        self.real_est = self._estimate(real, real_model) if real_estimate is None else real_estimate

    def _estimate(self, x, loss_model=None):
        return paired_population_gradients(
            self.model, {"x": x}, self.n, noise_generator=torch.Generator().manual_seed(self.noise_seed),
            n_batches=None if self.batch_edges else self.cfg.n_batches, batch_edges=self.batch_edges, chunk_size=self.cfg.grad_batch,
            sampling=self.sampling, losses=None if loss_model is None else {"x": loss_model},
        )["x"]

    def synthetic_estimate(self, value):
        """The r_s estimate at one sharpness value (on the real set's loss-noise stream)."""
        return self._estimate(self.synthetic_of(value))

    def report(self, value, synthetic=None, **options):
        """The :class:`~neon_theory.alignment.AlignmentReport` at one sharpness value (``synthetic``:
        its r_s estimate if already computed; ``options``: :func:`~neon_theory.alignment.alignment`'s
        ``alpha`` and ``hessian``, for w*)."""
        return alignment(self.real_est, self.synthetic_estimate(value) if synthetic is None else synthetic, self.P, **options)

    def rows(self, values) -> list[dict]:
        """One row per sharpness value: cosine, s (jackknife) with SEs, and the degeneracy flag."""
        return [{self.name: v, "seed": self.seed, **report_fields(self.report(v))} for v in values]


def report_fields(rep) -> dict:
    """The fields of an :class:`~neon_theory.alignment.AlignmentReport` that the toys' records keep."""
    return {
        "cosine": rep.cosine, "cosine_se": rep.cosine_se, "s": rep.s, "s_se": rep.s_se,
        "max_share_d": rep.max_share_d, "max_share_s": rep.max_share_s, "degenerate": rep.degenerate,
    }


def blocked_adam_probe(model, real_rows: torch.Tensor, cfg, seed: int, stream, *, copies: int = 1) -> tuple:
    """Adam-minibatch P on the real rows, in blocks aligned with the gradient batches.

    P walks the ``real_rows`` in minibatches of ``cfg.grad_batch`` (``copies`` passes, one per
    loss-noise draw), grouped into min(n_batches, ⌈N/B⌉) blocks; returns (P, batch_edges) with
    the edges in rows of the set that repeats each row ``copies`` times (``repeat_interleave``).
    """
    n_mb = math.ceil(real_rows.shape[0] / cfg.grad_batch)
    P = adam_minibatch(
        model, real_rows, batch_size=cfg.grad_batch, passes=copies, blocks=min(cfg.n_batches, n_mb),
        generator=generator(seed, stream("adam")), noise_generator=generator(seed, stream("adam-noise")),
    )
    return P, tuple(copies * e for e in P.row_edges)


def estimator_stream(name: str, rep: int) -> str:
    """The name of an estimator's random stream in repetition ``rep`` (0 keeps the plain name)."""
    return name if rep == 0 else f"{name}/rep{rep}"


def diffusion_base(cfg: DiffusionToyConfig, seed: int) -> DiffusionModel:
    """θ_r of the diffusion toy for one seed: the official MLP trained on n_base real samples."""
    check_int("seed", seed, lo=0)
    torch.manual_seed(child_seed(seed, "init"))
    model = DiffusionModel(TimeMLP(2), Schedule("cosine", 1000), grid="own")
    real = official_gaussian().sample(cfg.n_base, generator(seed, "real")).float()
    fit(model, real, steps=cfg.base_steps, lr=cfg.base_lr, generator=generator(seed, "base"))
    return model


def diffusion_sampler(cfg: DiffusionToyConfig, zeta: float) -> Chain:
    return Chain((Steps(cfg.sample_steps, "ddim", eta=cfg.eta), ScoreScale(zeta, "x0")))


def diffusion_finetune(model, cfg: DiffusionToyConfig, seed: int, zeta: float) -> dict:
    """θ_s after each budget in ``cfg.ft_steps`` (one run, snapshots), S drawn at score scale ζ."""
    S = model.sample(cfg.n_synthetic, diffusion_sampler(cfg, zeta), generator(seed, f"S/{zeta}"))
    st = self_train(model, S, steps=max(cfg.ft_steps), lr=cfg.ft_lr, generator=generator(seed, f"ft/{zeta}"), snapshot_steps=cfg.ft_steps)
    return dict(st.snapshots)


def diffusion_cosine_probe(model, cfg: DiffusionToyConfig, seed: int, rep: int = 0) -> CosineProbe:
    """P-cosine (Adam P, CRN) vs ζ, as the notebook: every population sample carries
    ``noise_draws`` (t, ε) draws, and P's minibatch second moment walks the population set
    once per draw (minibatch ``grad_batch``).  ``cfg.cos_estimator`` picks the estimator
    (:data:`COS_ESTIMATORS`; the estimand is the same).  ``rep`` selects fresh estimator noise."""
    stream = functools.partial(estimator_stream, rep=rep)
    target = official_gaussian()
    if cfg.cos_estimator != "plain":
        real_model = PosteriorTargetDiffusion(model, target) if cfg.cos_estimator == "variance-reduced" else None
        return rqmc_probe(model, target, functools.partial(diffusion_sampler, cfg), cfg, seed, rep, "zeta", real_model)
    pop = target.sample(cfg.n_pop, generator(seed, stream("pop"))).float()
    P, edges = blocked_adam_probe(model, pop, cfg, seed, stream, copies=cfg.noise_draws)

    def synthetic_of(zeta):
        S = model.sample(cfg.n_pop, diffusion_sampler(cfg, zeta), generator(seed, stream(f"cos-S/{zeta}")))
        return S.repeat_interleave(cfg.noise_draws, dim=0)

    return CosineProbe(model, pop.repeat_interleave(cfg.noise_draws, dim=0), synthetic_of, cfg, seed, P, "zeta", rep, edges)


def rqmc_probe(model, target, sampler_of, cfg, seed: int, rep: int, name: str, real_model=None) -> CosineProbe:
    """A P-cosine probe by randomised QMC: ``cfg.rqmc_rows`` rows (rounded up to whole minibatches
    of ``cfg.grad_batch``; each row its own sample, so no repeated noise draws) of the data law
    ``target`` and the loss noise, from scrambled Sobol points, one scramble per batch; r_s on the
    law ``ModelLaw(model, sampler_of(value))`` driven by the same uniforms (common random numbers
    with r_d); P's E[g_B²] from per-example moments on the *same* points as r_d (as the official
    estimator takes P and r_d from the same minibatches: a rare row then enters both, and P
    tempers its weight in the cosine); r_d is P's own gradient sums, or on ``real_model``'s loss
    when given.  ``rep`` selects fresh estimator noise."""
    steps = max(math.ceil(cfg.rqmc_rows / cfg.grad_batch), 3)
    noise_seed = child_seed(seed, estimator_stream("cos-noise", rep))  # CosineProbe's loss-noise stream: the same scrambles
    P = adam_minibatch(
        model, target, batch_size=cfg.grad_batch, steps=steps, blocks=min(cfg.n_batches, steps), estimator="moments", sampling="rqmc",
        noise_generator=torch.Generator().manual_seed(noise_seed),
    )
    n = steps * cfg.grad_batch
    real_estimate = None if real_model is not None else GradientEstimate.from_batch_sums(P.block_sums, P.block_weights, n)

    def synthetic_of(value):
        return ModelLaw(model, sampler_of(value))

    return CosineProbe(
        model, target, synthetic_of, cfg, seed, P, name, rep, P.row_edges, real_model, n=n, sampling="rqmc", real_estimate=real_estimate,
    )


def diffusion_fd_metric(cfg: DiffusionToyConfig):
    sampler = Steps(cfg.sample_steps, "ddim", eta=cfg.eta)
    if cfg.fd_sampling == "rqmc":
        return _fd_metric(sampler, cfg.rqmc_eval, "rqmc")
    return _fd_metric(sampler, cfg.n_eval)


def ar_base(cfg: ARToyConfig, seed: int) -> ARGaussianModel:
    """θ_r of the AR toy for one seed: trained on n_base real samples."""
    check_int("seed", seed, lo=0)
    torch.manual_seed(child_seed(seed, "init"))
    model = ARGaussianModel()
    real = official_gaussian().sample(cfg.n_base, generator(seed, "real")).float()
    fit(model, real, steps=cfg.base_steps, lr=cfg.base_lr, generator=generator(seed, "base"))
    return model


def ar_finetune(model, cfg: ARToyConfig, seed: int, tau: float, n_synthetic: int | None = None) -> dict:
    """θ_s after each budget in ``cfg.ft_epochs`` (epochs → state), S of size n_synthetic drawn at std temperature τ."""
    n = cfg.n_synthetic if n_synthetic is None else check_int("n_synthetic", n_synthetic, lo=2)
    steps_per_epoch = math.ceil(n / cfg.ft_batch)
    S = model.sample(n, Temperature(tau, "std"), generator(seed, f"S/{tau}" if n == cfg.n_synthetic else f"S/{tau}/{n}"))
    snaps = tuple(e * steps_per_epoch for e in cfg.ft_epochs)
    st = self_train(model, S, steps=max(snaps), lr=cfg.ft_lr, batch_size=min(cfg.ft_batch, n), generator=generator(seed, f"ft/{tau}"), snapshot_steps=snaps)
    return {e: st.snapshots[k] for e, k in zip(cfg.ft_epochs, snaps)}


def ar_cosine_probe(model, cfg: ARToyConfig, seed: int, rep: int = 0) -> CosineProbe:
    """P-cosine vs τ: by default (``cfg.cos_estimator="plain"``) Adam P over one pass of the
    population set without replacement, CRN, as the notebook; ``"rqmc"``: :func:`rqmc_probe` on
    ``rqmc_rows`` rows (not the default: on the paper bench's 4 bases × 2 τ its efficiency was
    0.26–2.4·10⁴× the official estimator's, median ≈ 1.4×, against ≈ 1.0× for ``plain``; units
    active on few rows keep P's estimate heavy-tailed, which quasi-random rows do not smooth).
    ``rep`` selects fresh estimator noise."""
    if cfg.cos_estimator == "rqmc":
        return rqmc_probe(model, official_gaussian(), functools.partial(Temperature, convention="std"), cfg, seed, rep, "tau")
    stream = functools.partial(estimator_stream, rep=rep)
    pop = official_gaussian().sample(cfg.n_pop, generator(seed, stream("pop"))).float()
    P, edges = blocked_adam_probe(model, pop, cfg, seed, stream)

    def synthetic_of(tau):
        return model.sample(cfg.n_pop, Temperature(tau, "std"), generator(seed, stream(f"cos-S/{tau}")))

    return CosineProbe(model, pop, synthetic_of, cfg, seed, P, "tau", rep, edges)


def ar_fd_metric(cfg: ARToyConfig):
    return _fd_metric(Temperature(1.0, "std"), cfg.n_eval)


@dataclass(frozen=True)
class PlaneConfig:
    """Paper Fig. 2 on the AR toy: the plane θ_r + w_s(θ_r − θ_s) + w_o(θ_o − θ_r).

    θ_s is fine-tuned on |S| = n_synthetic samples at std temperature ``tau``; θ_o is fine-tuned
    with the same optimiser and number of steps on ``real_factor`` × n_base real samples (the
    base's own data plus fresh draws).  The metric is log₁₀ W₂ to the truth, W₂ from POT:
    Bures–Wasserstein between the Gaussian fitted to ``n_eval`` samples and the truth
    (``w2="gaussian"``), or exact empirical W₂ on ``n_eval`` samples (``w2="empirical"``,
    whose sampling floor is large in 2-D).
    """

    ar: ARToyConfig = field(default_factory=ARToyConfig)
    tau: float = 0.5
    ft_epochs: int = 50
    real_factor: int = 4
    w_s: tuple = tuple(np.round(np.linspace(-0.5, 1.0, 16), 6).tolist())
    w_o: tuple = tuple(np.round(np.linspace(-0.5, 1.5, 21), 6).tolist())
    n_eval: int = 50_000
    w2: str = "gaussian"

    def __post_init__(self):
        check_choice("w2", self.w2, ("gaussian", "empirical"))
        check_int("real_factor", self.real_factor, lo=1)

    @classmethod
    def preset(cls, name: str) -> "PlaneConfig":
        check_choice("preset", name, PRESETS)
        if name in ("paper", "reduced"):
            return cls()
        return cls(ar=ARToyConfig.preset("smoke"), ft_epochs=10, w_s=(-0.5, 0.0, 0.5, 1.0), w_o=(-0.5, 0.0, 0.5, 1.0, 1.5), n_eval=10_000)


def _w2_metric(kind: str, n_eval: int):
    from neon_theory.metrics import bures_wasserstein, sample_moments, wasserstein2_empirical

    target = official_gaussian()

    def metric(model, g):
        x = model.sample(n_eval, Temperature(1.0, "std"), g).double()
        if not bool(torch.isfinite(x).all()):
            return 1e6
        if kind == "gaussian":
            m, c = sample_moments(x)
            return bures_wasserstein(m, c, target.mean(), target.cov())
        return wasserstein2_empirical(x, target.sample(n_eval, torch.Generator().manual_seed(g.initial_seed() + 1)))

    return metric


def run_plane(cfg: PlaneConfig, seed: int, *, progress: bool = False) -> pd.DataFrame:
    """The Fig. 2 grid for one seed: columns w_s, w_o, value (= W₂), log10_w2, seed."""
    from neon_theory.neon import plane_sweep

    target = official_gaussian()
    a = cfg.ar
    model = ar_base(a, seed)
    real = target.sample(a.n_base, generator(seed, "real")).float()
    steps = cfg.ft_epochs * math.ceil(a.n_synthetic / a.ft_batch)
    S = model.sample(a.n_synthetic, Temperature(cfg.tau, "std"), generator(seed, "plane-S"))
    theta_s = self_train(model, S, steps=steps, lr=a.ft_lr, batch_size=min(a.ft_batch, a.n_synthetic), generator=generator(seed, "plane-ft-s")).state_dict
    more = torch.cat([real, target.sample((cfg.real_factor - 1) * a.n_base, generator(seed, "more-real")).float()])
    theta_o = self_train(model, more, steps=steps, lr=a.ft_lr, batch_size=min(a.ft_batch, more.shape[0]), generator=generator(seed, "plane-ft-o")).state_dict
    df = plane_sweep(model, theta_s, theta_o, cfg.w_s, cfg.w_o, _w2_metric(cfg.w2, cfg.n_eval), eval_seed=child_seed(seed, "plane-eval"), progress=progress)
    df["log10_w2"] = np.log10(df["value"])
    df["seed"] = seed
    return df


def plane_summary(df: pd.DataFrame) -> dict:
    """Best log₁₀ W₂ along the Neon axis (w_o = 0), along the real-data axis (w_s = 0), and overall."""
    base = df[(df.w_s == 0) & (df.w_o == 0)].log10_w2.mean()
    neon = df[df.w_o == 0].groupby("w_s").log10_w2.mean()
    real = df[df.w_s == 0].groupby("w_o").log10_w2.mean()
    both = df.groupby(["w_s", "w_o"]).log10_w2.mean()
    return {
        "base": float(base),
        "neon_axis_best": float(neon.min()), "neon_axis_best_w_s": float(neon.idxmin()),
        "real_axis_best": float(real.min()), "real_axis_best_w_o": float(real.idxmin()),
        "plane_best": float(both.min()), "plane_best_at": tuple(float(v) for v in both.idxmin()),
        "neon_matches_real": bool(neon.min() <= real.min()),
    }
