"""The P-cosine probe: s = ⟨r_d, P r_s⟩ and the P-cosine at many sampler settings of one model.

A probe computes the real-data gradient r_d and the preconditioner P once, then r_s for each
sampler setting on the *same* loss-noise stream (common random numbers), and reports each
setting through :func:`~neon_theory.alignment.alignment` with jackknife standard errors over
contiguous row batches.  Three estimators of the same estimand (:data:`COS_ESTIMATORS`):

* ``plain``: independent rows; P is Adam's minibatch second moment walked in blocks aligned
  with the gradient batches (:func:`blocked_adam_probe`), so the jackknife resamples P too;
* ``rqmc``: rows and loss noise from scrambled Sobol points, one scramble per batch; the
  synthetic rows come from the sampler driven by the same uniforms (:func:`rqmc_probe`); it
  needs the optional quasi-random methods of :class:`~neon_theory.contracts.QuasiRandomModel`
  and :class:`~neon_theory.contracts.QuasiRandomLaw`;
* ``variance-reduced``: ``rqmc`` with r_d on a lower-noise loss of the same expected gradient
  (``real_model``, e.g. one that regresses on the exact E[ε | x_t] of a known target).

Every random draw comes from a named stream of the probe's seed (:class:`Streams`): repetition
``rep = 0`` uses the plain names, another ``rep`` fresh estimator noise, so a repeat is
deterministic and repeats are independent.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

import torch

from .alignment import AlignmentReport, alignment
from .checks import check_choice, check_int
from .gradients import GradientEstimate, ModelLaw, paired_population_gradients
from .preconditioners import Walk, adam_minibatch
from .rng import child_seed, generator

#: How a P-cosine is estimated (the estimand is the same; ``neon-theory bench`` measures them).
COS_ESTIMATORS = {
    "plain": "the notebook's estimator with common random numbers and blocks: r_d on the plain loss, P from Adam's EMA",
    "rqmc": "randomised quasi-Monte Carlo: rows and loss noise from scrambled Sobol points (one scramble per batch), "
    "the synthetic rows from the sampler driven by the same uniforms, P's E[g_B²] from per-example gradient moments",
    "variance-reduced": "rqmc, and r_d regresses on the exact E[ε | x_t] of the known target (PosteriorTargetDiffusion)",
}


@dataclass(frozen=True)
class ProbeSizes:
    """Sizes of a P-cosine probe: population rows, the minibatch of the gradient and Adam
    passes, and the number of batches of the standard errors (the official notebook's values)."""

    n_pop: int = 100_000
    grad_batch: int = 2048
    n_batches: int = 32

    def __post_init__(self):
        check_int("n_pop", self.n_pop, lo=2)
        check_int("grad_batch", self.grad_batch, lo=1)
        check_int("n_batches", self.n_batches, lo=2)

    def to_dict(self) -> dict:
        return asdict(self)


def estimator_stream(name: str, rep: int) -> str:
    """The name of an estimator's random stream in repetition ``rep`` (0 keeps the plain name)."""
    return name if rep == 0 else f"{name}/rep{rep}"


@dataclass(frozen=True)
class Streams:
    """The named random streams of one probe: children of ``seed``, renamed per repetition ``rep``."""

    seed: int
    rep: int = 0

    def __post_init__(self):
        check_int("seed", self.seed, lo=0)
        check_int("rep", self.rep, lo=0)

    def name(self, base: str) -> str:
        return estimator_stream(base, self.rep)

    def generator(self, base: str) -> torch.Generator:
        return generator(self.seed, self.name(base))

    def child_seed(self, base: str) -> int:
        return child_seed(self.seed, self.name(base))


@dataclass(frozen=True)
class Rows:
    """How a probe reads its sources: ``batch_edges`` (row offsets of the SE batches; ``None``:
    ``n_batches`` equal batches), and for law sources ``n`` rows drawn by ``sampling`` ("mc" or
    "rqmc"); with ``sampling="mc"`` a law's rows come from the probe's stream ``data_stream``,
    restarted for every source (common random numbers in the data draws as in the loss noise)."""

    batch_edges: tuple | None = None
    n: int | None = None
    sampling: str = "mc"
    data_stream: str | None = None

    def __post_init__(self):
        check_choice("sampling", self.sampling, ("mc", "rqmc"))


def report_fields(rep: AlignmentReport) -> dict:
    """The fields of an :class:`~neon_theory.alignment.AlignmentReport` that study records keep."""
    return {
        "cosine": rep.cosine, "cosine_se": rep.cosine_se, "s": rep.s, "s_se": rep.s_se,
        "max_share_d": rep.max_share_d, "max_share_s": rep.max_share_s, "degenerate": rep.degenerate,
    }


class CosineProbe:
    """The P-cosine at any sampler setting for one (model, seed), with common random numbers:
    r_d and P are computed once, and every synthetic set is evaluated on the real set's loss-noise stream.

    ``real`` and every synthetic set are read in contiguous batches (:class:`Rows`) for the
    standard errors, so a set that holds several loss-noise draws per sample must keep a
    sample's copies together (``repeat_interleave``): copies spread over several batches would
    make the batch means share their data and the SE would miss the sampling variance.  When P
    is a :class:`~neon_theory.preconditioners.BlockDiagonal` estimated on the real rows with the
    same blocks, the jackknife also resamples P.

    Args:
        model: θ_r (a :class:`~neon_theory.contracts.GenerativeModel`).
        real: the real rows (a Tensor), or a law with ``rows.n`` rows.
        synthetic_of: ``value -> rows or law``: the synthetic source at one sampler setting.
        P: the preconditioner.
        sizes: :class:`ProbeSizes` (``grad_batch`` and ``n_batches`` are read).
        streams: :class:`Streams`: the seed and repetition of the estimator's noise.
        name: the record column that holds the sampler setting (e.g. ``"tau"``).
        rows: :class:`Rows`.
        real_model: computes r_d instead of ``model`` (same module, same expected gradient on
            real rows, less noise: e.g. a diffusion loss that regresses on the exact E[ε | x_t] of a known target).
        real_estimate: r_d already computed on these rows and batches (then not recomputed).
    """

    def __init__(
        self, model, real, synthetic_of: Callable, P, *, sizes, streams: Streams, name: str, rows: Rows = Rows(),
        real_model=None, real_estimate: GradientEstimate | None = None,
    ):
        self.model, self.real, self.synthetic_of, self.P = model, real, synthetic_of, P
        self.sizes, self.streams, self.name, self.rows = sizes, streams, name, rows
        self.seed, self.rep = streams.seed, streams.rep
        self.noise_seed = streams.child_seed("cos-noise")
        self.real_est = self._estimate(real, real_model) if real_estimate is None else real_estimate

    def _estimate(self, x, loss_model=None) -> GradientEstimate:
        rows = self.rows
        return paired_population_gradients(
            self.model, {"x": x}, rows.n, noise_generator=torch.Generator().manual_seed(self.noise_seed),
            generator=None if rows.data_stream is None else self.streams.generator(rows.data_stream),
            n_batches=None if rows.batch_edges else self.sizes.n_batches, batch_edges=rows.batch_edges, chunk_size=self.sizes.grad_batch,
            sampling=rows.sampling, losses=None if loss_model is None else {"x": loss_model},
        )["x"]

    def synthetic_estimate(self, value) -> GradientEstimate:
        """The r_s estimate at one sampler setting (on the real set's loss-noise stream)."""
        return self._estimate(self.synthetic_of(value))

    def report(self, value, synthetic: GradientEstimate | None = None, **options) -> AlignmentReport:
        """The :class:`~neon_theory.alignment.AlignmentReport` at one setting (``synthetic``: its
        r_s estimate if already computed; ``options``: :func:`~neon_theory.alignment.alignment`'s
        ``alpha`` and ``hessian``, for w*)."""
        return alignment(self.real_est, self.synthetic_estimate(value) if synthetic is None else synthetic, self.P, **options)

    def rows_at(self, values) -> list[dict]:
        """One row per setting: the setting, the seed, the cosine and s (jackknife) with SEs, and the degeneracy flag."""
        return [{self.name: v, "seed": self.seed, **report_fields(self.report(v))} for v in values]


def blocked_adam_probe(model, real_rows: torch.Tensor, sizes, streams: Streams, *, prefix: str = "", copies: int = 1) -> tuple:
    """Adam-minibatch P on the real rows, in blocks aligned with the gradient batches.

    P walks ``real_rows`` in minibatches of ``sizes.grad_batch`` (``copies`` passes, one per
    loss-noise draw), grouped into min(n_batches, ⌈N/B⌉) blocks, on the streams
    ``<prefix>adam`` and ``<prefix>adam-noise``; returns (P, batch_edges) with the edges in
    rows of the set that repeats each row ``copies`` times (``repeat_interleave``).
    """
    n_mb = math.ceil(real_rows.shape[0] / sizes.grad_batch)
    P = adam_minibatch(
        model, real_rows, Walk(sizes.grad_batch, passes=copies, blocks=min(sizes.n_batches, n_mb)), generator=streams.generator(f"{prefix}adam"),
        noise_generator=streams.generator(f"{prefix}adam-noise"),
    )
    return P, tuple(copies * e for e in P.row_edges)


def rqmc_probe(model, target, sampler_of: Callable, sizes, streams: Streams, *, name: str, rqmc_rows: int, real_model=None) -> CosineProbe:
    """A P-cosine probe by randomised QMC.

    ``rqmc_rows`` rows (rounded up to whole minibatches of ``sizes.grad_batch``, at least 3; each
    row its own sample, so no repeated noise draws) of the data law ``target`` and the loss
    noise, from scrambled Sobol points, one scramble per batch; r_s on the law
    ``ModelLaw(model, sampler_of(value))`` driven by the same uniforms (common random numbers with
    r_d); P's E[g_B²] from per-example moments on the *same* points as r_d (as the official
    estimator takes P and r_d from the same minibatches: a rare row then enters both, and P
    tempers its weight in the cosine); r_d is P's own gradient sums, or on ``real_model``'s loss
    when given.
    """
    steps = max(math.ceil(check_int("rqmc_rows", rqmc_rows, lo=2) / sizes.grad_batch), 3)
    noise_seed = streams.child_seed("cos-noise")  # the probe's loss-noise stream: the same scrambles
    P = adam_minibatch(
        model, target, Walk(sizes.grad_batch, steps=steps, blocks=min(sizes.n_batches, steps)), estimator="moments", sampling="rqmc",
        noise_generator=torch.Generator().manual_seed(noise_seed),
    )
    n = steps * sizes.grad_batch
    real_estimate = None if real_model is not None else GradientEstimate.from_batch_sums(P.block_sums, P.block_weights, n)

    def synthetic_of(value):
        return ModelLaw(model, sampler_of(value))

    return CosineProbe(
        model, target, synthetic_of, P, sizes=sizes, streams=streams, name=name, rows=Rows(P.row_edges, n, "rqmc"),
        real_model=real_model, real_estimate=real_estimate,
    )
