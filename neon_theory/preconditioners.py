"""Preconditioners P ≻ 0: the geometry in which fine-tuning moves θ.

Every preconditioner maps v ↦ P v for v of shape (..., p) and gives the P-inner product.
Builders estimate P from a model and a data source:

* :func:`identity` — plain SGD.
* :func:`adam_minibatch` — the official toy's P = diag(1/(√v̂ + eps)), v̂ Adam's
  bias-corrected EMA of squared *minibatch* gradients.  Depends on the batch size B,
  since E[g_B²] = ḡ² + σ²/B.
  ``estimator="moments"`` estimates the same E[g_B²] from per-example gradient moments
  (far less noise for the same rows; see :class:`MomentBlockDiagonal`).
* :func:`second_moment_diag` — diag(1/(√E[g²] + eps)) from per-sample gradients (B = 1).
* :func:`empirical_fisher_diag` — diag(1/(E[g²] + damping)), a diagonal natural gradient.
* :func:`exact_inverse` — dense H⁻¹ (or F⁻¹) for small models.

Builders put P on the parameters' device, in float64 (the accumulator dtype there, see
:mod:`neon_theory.device`); ``apply`` follows the device of v.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch
from torch import Tensor

from .checks import check_choice, check_generator, check_int, check_real, check_spd, check_tensor
from .contracts import GenerativeModel, check_model
from .device import accumulator_dtype, module_device, to_accumulator
from .gradients import (
    Source,
    WeightedSupport,
    _batch_bounds,
    _chunk_bounds,
    _chunk_grad,
    _chunks,
    _draw_noise,
    _source_size,
    gradient_second_moment,
    per_example_gradient_sums,
)
from .params import num_parameters, trainable_named_parameters
from .progress import tqdm
from .rng import draw


class Preconditioner:
    """Abstract P ≻ 0 of dimension p."""

    name: str = "preconditioner"

    #: the tensor that stores P (its first axis has length p), or ``None`` when P stores none
    stored: Tensor | None = None

    @property
    def dim(self) -> int | None:
        """p, or ``None`` when any dimension is accepted."""
        return None if self.stored is None else self.stored.shape[0]

    @property
    def device(self) -> torch.device | None:
        """Where P's tensors live, or ``None`` when it holds none."""
        return None if self.stored is None else self.stored.device

    def apply(self, v: Tensor) -> Tensor:
        """P v. v (Tensor): shape (..., p). Returns shape (..., p), float64, on v's device."""
        raise NotImplementedError

    def matrix(self, p: int | None = None, device: str | torch.device | None = None) -> Tensor:
        """Dense P, shape (p, p), float64, on ``device`` (default: P's own, else the default device)."""
        p = self.dim if p is None else p
        if p is None:
            raise ValueError("p is required for a dimension-free preconditioner")
        device = device or self.device or torch.get_default_device()
        return self.apply(torch.eye(p, dtype=accumulator_dtype(device), device=device))

    def inner(self, a: Tensor, b: Tensor) -> Tensor:
        """⟨a, P b⟩ over the last dimension."""
        return (to_accumulator(a) * self.apply(b)).sum(-1)

    def _check(self, v: Tensor) -> Tensor:
        check_tensor("v", v, finite=False)
        if self.dim is not None and v.shape[-1] != self.dim:
            raise ValueError(f"v must have last dimension p={self.dim}; got {v.shape[-1]}")
        return to_accumulator(v)

    def scaled(self, c: float) -> "Preconditioner":
        """c·P for c in (0, inf)."""
        return Scaled(self, check_real("c", c, 0.0, math.inf, lo_open=True))


@dataclass(frozen=True, eq=False)
class Identity(Preconditioner):
    """P = I (plain SGD)."""

    p: int | None = None
    name: str = "identity"

    @property
    def dim(self):
        return self.p

    def apply(self, v):
        return self._check(v).clone()


@dataclass(frozen=True, eq=False)
class Scaled(Preconditioner):
    """c·P for a preconditioner P and c > 0."""

    base: Preconditioner
    c: float

    @property
    def name(self):
        return f"{self.c:g}*{self.base.name}"

    @property
    def dim(self):
        return self.base.dim

    @property
    def device(self):
        return self.base.device

    def apply(self, v):
        return self.c * self.base.apply(v)


@dataclass(frozen=True, eq=False)
class Diagonal(Preconditioner):
    """P = diag(d), d > 0.

    Args:
        diag (Tensor): shape (p,), finite and positive.
    """

    diag: Tensor
    name: str = "diagonal"

    def __post_init__(self):
        check_tensor("diag", self.diag, ndim=1)
        if bool((self.diag <= 0).any()):
            raise ValueError("diag must be positive (entries in (0, inf))")
        object.__setattr__(self, "diag", to_accumulator(self.diag))

    @property
    def stored(self):
        return self.diag

    def apply(self, v):
        v = self._check(v)
        return v * self.diag.to(v.device)


@dataclass(frozen=True, eq=False)
class BlockDiagonal(Diagonal):
    """An estimated Adam-minibatch P = diag(1/(√v̂ + eps)) that keeps v̂ block by block.

    v̂ = Σ_t c_t g_t² / Σ_t c_t with Adam's EMA weights c_t = (1−β₂)β₂^{T−t}; the minibatches
    are grouped into blocks of whole minibatches (rows ``row_edges[j]`` to ``row_edges[j+1]``
    of the source), and ``block_sums[j]`` = Σ_{t in block j} c_t g_t², ``block_weights[j]`` =
    Σ_{t in block j} c_t.  :meth:`delete_one` gives P without each block, so a delete-one-batch
    jackknife over gradient batches on the *same* rows (``batch_edges=row_edges``) also sees
    the estimation noise of P (see :func:`neon_theory.alignment.alignment`).

    Attributes:
        block_sums (Tensor): shape (k, p), float64.
        block_weights (Tensor): shape (k,), float64, positive.
        row_edges (tuple): k + 1 row indices, 0 to N.
        eps (float): the eps of P.
    """

    block_sums: Tensor | None = None
    block_weights: Tensor | None = None
    row_edges: tuple = ()
    eps: float = 1e-8

    def __post_init__(self):
        super().__post_init__()
        k = check_tensor("block_weights", self.block_weights, ndim=1).shape[0]
        check_tensor("block_sums", self.block_sums, shape=(k, self.dim))
        if len(self.row_edges) != k + 1:
            raise ValueError(f"row_edges must hold k + 1 = {k + 1} row indices; got {len(self.row_edges)}")

    @property
    def n_blocks(self) -> int:
        return int(self.block_weights.shape[0])

    def delete_one(self) -> Tensor:
        """The diagonal of P with block j deleted, for every j: shape (k, p), float64."""
        v = (self.block_sums.sum(0) - self.block_sums) / (self.block_weights.sum() - self.block_weights)[:, None]
        return 1.0 / (v.clamp_min(0).sqrt() + self.eps)


def moment_second_moment(sums: Tensor, square_sums: Tensor, counts: Tensor, batch_size: int) -> Tensor:
    """E[g_B²] = r²(1 − 1/B) + m₂/B for minibatches of B i.i.d. rows, from per-block sums.

    r = E[g_i] and m₂ = E[g_i²] are the per-example gradient mean and (elementwise) second
    moment; r̂² is debiased by the batch-means variance of r̂ over the blocks (which also
    covers rows that share an example across loss-noise passes), so the estimate is unbiased
    for equal i.i.d. blocks; the result is floored at 0.

    Args:
        sums, square_sums (Tensor): shape (k, p): Σ g_i and Σ g_i² per block (k ≥ 2).
        counts (Tensor): shape (k,): rows per block.
        batch_size (int): B.

    Returns:
        Tensor: shape (p,), float64.
    """
    check_tensor("sums", sums, ndim=2)
    k = sums.shape[0]
    if k < 2:
        raise ValueError(f"sums must hold at least 2 blocks (the debiasing needs a batch-means variance); got {k}")
    check_tensor("square_sums", square_sums, shape=tuple(sums.shape))
    check_tensor("counts", counts, shape=(k,))
    if bool((counts <= 0).any()):
        raise ValueError("counts must be positive (rows per block)")
    check_int("batch_size", batch_size, lo=1)
    n = counts.sum()
    r = sums.sum(0) / n
    m2 = square_sums.sum(0) / n
    var_r = k / (k - 1) * (((counts / n)[:, None] * (sums / counts[:, None] - r)) ** 2).sum(0)
    # r̂² − Var(r̂) is unbiased for r²; flooring it at 0 would bias coordinates with r ≈ 0 upwards.
    # v itself can only go negative when Var(r̂) exceeds m₂/(B−1), i.e. for fewer rows than B.
    return ((r * r - var_r) * (1 - 1 / batch_size) + m2 / batch_size).clamp_min(0)


@dataclass(frozen=True, eq=False)
class MomentBlockDiagonal(BlockDiagonal):
    """Adam-minibatch P = diag(1/(√v + eps)) with v = E[g_B²] estimated from per-example moments.

    Adam's EMA sees one squared minibatch gradient per step, a one-degree-of-freedom look at
    E[g_B²] = r² + Var(g_i)/B.  The same expectation follows from the per-example moments
    r = E[g_i] and m₂ = E[g_i²] (:func:`moment_second_moment`), which every row informs:
    the estimand is the one of :func:`adam_minibatch`'s EMA (its expectation for i.i.d.
    minibatches), with far less noise for the same rows.  ``block_sums`` hold Σ g_i,
    ``block_square_sums`` Σ g_i², ``block_weights`` the rows of each block, so that
    :meth:`delete_one` resamples P in the jackknife as :class:`BlockDiagonal` does.
    """

    block_square_sums: Tensor | None = None
    batch_size: int = 1

    def __post_init__(self):
        super().__post_init__()
        check_tensor("block_square_sums", self.block_square_sums, shape=tuple(self.block_sums.shape))
        check_int("batch_size", self.batch_size, lo=1)

    def delete_one(self) -> Tensor:
        k = self.n_blocks
        if k < 3:  # the debiasing needs two blocks left
            raise ValueError(f"a moment-estimated P needs at least 3 blocks for the jackknife; it has {k}")
        out = []
        for j in range(k):
            keep = torch.arange(k, device=self.block_sums.device) != j
            v = moment_second_moment(self.block_sums[keep], self.block_square_sums[keep], self.block_weights[keep], self.batch_size)
            out.append(1.0 / (v.sqrt() + self.eps))
        return torch.stack(out)


@dataclass(frozen=True, eq=False)
class Dense(Preconditioner):
    """P given as a dense symmetric positive-definite matrix, shape (p, p)."""

    P: Tensor
    name: str = "dense"

    def __post_init__(self):
        check_spd("P", self.P)
        P = to_accumulator(self.P)
        object.__setattr__(self, "P", 0.5 * (P + P.T))

    @property
    def stored(self):
        return self.P

    def apply(self, v):
        v = self._check(v)
        return v @ self.P.to(v.device)


def identity(p: int | None = None) -> Identity:
    return Identity(None if p is None else check_int("p", p, lo=1))


@dataclass(frozen=True)
class Walk:
    """How :func:`adam_minibatch` walks its source, in minibatches of ``batch_size`` rows.

    Attributes:
        batch_size (int): B in [1, inf); P depends on it (E[g_B²] = ḡ² + σ²/B).
        passes (int): for a Tensor source, passes over the set in [1, inf) (e.g. one per loss-noise draw).
        steps (int | None): for a sampling-law source only, the number of minibatches in [1, inf).
        shuffle (bool): permute the rows in each pass (a ``generator`` is then required) or walk in order.
        blocks (int | None): for a Tensor source, k in [2, ⌈N/B⌉]: keep v̂ per block (see :func:`adam_minibatch`).
    """

    batch_size: int
    passes: int = 1
    steps: int | None = None
    shuffle: bool = True
    blocks: int | None = None

    def __post_init__(self):
        check_int("batch_size", self.batch_size, lo=1)
        check_int("passes", self.passes, lo=1)
        if self.steps is not None:
            check_int("steps", self.steps, lo=1)
        if not isinstance(self.shuffle, bool):
            raise ValueError(f"shuffle must be True or False; got {self.shuffle!r}")
        if self.blocks is not None:
            check_int("blocks", self.blocks, lo=2)


def adam_minibatch(
    model: GenerativeModel,
    source: Source,
    walk: Walk | int,
    *,
    beta2: float = 0.999,
    eps: float = 1e-8,
    generator: torch.Generator | None = None,
    noise_generator: torch.Generator | None = None,
    estimator: str = "ema",
    sampling: str = "mc",
    progress: bool = False,
) -> Diagonal:
    """The official toy's Adam-minibatch preconditioner at fixed θ.

    v_t = β₂ v_{t−1} + (1−β₂) g_t², v̂ = v_T / (1 − β₂^T), P = diag(1/(√v̂ + eps)), where
    g_t is the mean gradient of minibatch t.

    A finite ``Tensor`` source of N rows is walked **without replacement**, as the official
    notebook does: each of ``passes`` passes visits every row exactly once, in ⌈N/B⌉
    minibatches (the last one partial), over a fresh permutation drawn from ``generator``
    (``shuffle=True``) or in order (``shuffle=False``).  Drawing with replacement would miss
    about 1/e of the rows per pass; a unit whose gradient lives on a few missed tail rows
    would then get v̂ = 0 and P = 1/eps, and that one coordinate would swamp any P-norm.
    With a sampling-law source (``sample(n, generator)``), ``steps`` fresh minibatches of B
    draws are used instead.

    With ``blocks = k``, the minibatches are fixed row ranges [tB, (t+1)B) of the source (its
    rows are taken to be i.i.d. draws, so their order is already random; ``shuffle`` then
    permutes the order of the minibatches in each pass), grouped into k blocks of whole
    minibatches, and a :class:`BlockDiagonal` is returned whose ``row_edges`` are the batch
    edges to use for the gradients on the same rows.  That lets the jackknife of
    :func:`~neon_theory.alignment.alignment` resample P together with the gradients.

    Args:
        walk: the :class:`Walk` over the source (minibatch size B, passes or steps, shuffling,
            blocks), or just B.
        beta2 (float): in [0, 1).
        eps (float): in (0, inf).
        estimator (str): ``"ema"`` (Adam's EMA, as the notebook) or ``"moments"``: the same
            E[g_B²] from per-example gradient moments over every row and pass
            (:class:`MomentBlockDiagonal`; ``shuffle``, ``beta2`` and ``generator`` do not
            apply; a sampling-law source gives ``steps`` × B rows; the blocks of a Tensor
            source are its row ranges, so its rows must be in i.i.d. order, as with ``blocks``).  For the toys' MLPs it
            costs about one gradient pass.
        sampling (str): ``"mc"`` or, with ``estimator="moments"``, ``"rqmc"``: rows of a law
            source and the loss noise from scrambled Sobol points, one independent scramble per
            block and pass (:mod:`neon_theory.qmc`); far less noise than either Monte Carlo
            estimator (``neon-theory bench`` measures it).
    """
    check_model(model)
    walk = Walk(walk) if isinstance(walk, numbers.Integral) and not isinstance(walk, bool) else walk
    if not isinstance(walk, Walk):
        raise ValueError(f"walk must be a Walk(batch_size, ...) or a batch size; got {walk!r}")
    B, steps, passes, shuffle, blocks = walk.batch_size, walk.steps, walk.passes, walk.shuffle, walk.blocks
    check_choice("estimator", estimator, ("ema", "moments"))
    check_choice("sampling", sampling, ("mc", "rqmc"))
    if estimator == "moments":
        return _adam_moments(
            model, source, B, steps, passes, blocks, check_real("eps", eps, 0.0, math.inf, lo_open=True),
            noise_generator, sampling, progress,
        )
    if sampling != "mc":
        raise ValueError("sampling='rqmc' needs estimator='moments': Adam's EMA assumes minibatches of independent rows")
    beta2 = check_real("beta2", beta2, 0.0, 1.0, hi_open=True)
    eps = check_real("eps", eps, 0.0, math.inf, lo_open=True)
    if isinstance(source, Tensor):
        if steps is not None:
            raise ValueError("steps applies to a sampling-law source; a Tensor source is walked in passes (set passes in [1, inf))")
        size = check_tensor("source", source, finite=False).shape[0] if source.ndim else 0
        if size < 1:
            raise ValueError("source must hold at least one row")
        if shuffle:
            check_generator("generator", generator)
        if blocks is not None:
            return _adam_blocks(model, source, B, passes, shuffle, blocks, beta2, eps, generator, noise_generator, progress)
        orders = (
            draw(torch.randperm, size, generator=generator, device=source.device) if shuffle else torch.arange(size, device=source.device)
            for _ in range(passes)
        )
        batches = (source[order[a:z]] for order in orders for a, z in _chunk_bounds(0, size, B))
        T = passes * math.ceil(size / B)
    elif blocks is not None:
        raise ValueError("blocks needs a Tensor source (fixed rows to group into blocks)")
    elif isinstance(source, WeightedSupport):
        raise ValueError("adam_minibatch needs a Tensor or a sampling-law source; a WeightedSupport has no minibatches")
    else:
        _source_size(source, B)
        if steps is None:
            raise ValueError("steps (the number of minibatches, in [1, inf)) is required for a sampling-law source")
        T = check_int("steps", steps, lo=1)
        check_generator("generator", generator)
        batches = (source.sample(B, generator) for _ in range(T))
    params = [p for _, p in trainable_named_parameters(model.module)]
    device = module_device(model.module)
    v = torch.zeros(num_parameters(model.module), dtype=accumulator_dtype(device), device=device)
    for x in tqdm(batches, total=T, disable=not progress, desc="adam second moment"):
        g = _chunk_grad(model, x, _draw_noise(model, x.shape[0], noise_generator), None, params) / x.shape[0]
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
    v_hat = v / (1 - beta2**T)
    return Diagonal(1.0 / (v_hat.sqrt() + eps), f"adam-minibatch(B={B})")


def _adam_blocks(model: GenerativeModel, source: Source, B, passes, shuffle, blocks, beta2, eps, generator, noise_generator, progress) -> BlockDiagonal:
    """:func:`adam_minibatch` with fixed minibatches grouped into blocks (see its docstring)."""
    size = source.shape[0]
    n_mb = math.ceil(size / B)
    if n_mb < 2:
        raise ValueError(f"blocks needs at least 2 minibatches: N={size} rows at batch_size={B} give 1; use batch_size in [1, {max(size // 2, 1)}]")
    k = check_int("blocks", blocks, lo=2, hi=n_mb)
    groups = _batch_bounds(n_mb, k)
    block_of = [j for j, (a, z) in enumerate(groups) for _ in range(a, z)]
    params = [p for _, p in trainable_named_parameters(model.module)]
    device = module_device(model.module)
    sums = torch.zeros(k, num_parameters(model.module), dtype=accumulator_dtype(device), device=device)
    weights = torch.zeros(k, dtype=sums.dtype, device=device)
    T = passes * n_mb
    with tqdm(total=T, disable=not progress, desc="adam second moment") as bar:
        for _ in range(passes):
            for t in torch.randperm(n_mb, generator=generator, device=generator.device).tolist() if shuffle else range(n_mb):
                x = source[t * B : (t + 1) * B]
                g = _chunk_grad(model, x, _draw_noise(model, x.shape[0], noise_generator), None, params) / x.shape[0]
                sums.mul_(beta2)  # every earlier step's weight decays by β₂: c_t = (1−β₂)β₂^{T−t}
                weights.mul_(beta2)
                j = block_of[t]
                sums[j].addcmul_(g, g, value=1 - beta2)
                weights[j] += 1 - beta2
                bar.update()
    v_hat = sums.sum(0) / weights.sum()  # Σ_t c_t = 1 − β₂^T: Adam's bias correction
    edges = tuple(min(a * B, size) for a, _ in groups) + (size,)
    return BlockDiagonal(1.0 / (v_hat.sqrt() + eps), f"adam-minibatch(B={B})", block_sums=sums, block_weights=weights, row_edges=edges, eps=eps)


def _adam_moments(model: GenerativeModel, source: Source, B: int, steps, passes: int, blocks, eps: float, noise_generator, sampling: str, progress) -> Diagonal:
    """:func:`adam_minibatch` with ``estimator="moments"`` (see its docstring)."""
    if isinstance(source, WeightedSupport):
        raise ValueError("adam_minibatch needs a Tensor or a sampling-law source; a WeightedSupport has no minibatches")
    if isinstance(source, Tensor):
        if steps is not None:
            raise ValueError("steps applies to a sampling-law source; a Tensor source is walked in passes (set passes in [1, inf))")
        size = check_tensor("source", source, finite=False).shape[0] if source.ndim else 0
        n_mb = math.ceil(size / B) if size else 0
    else:
        _source_size(source, B)
        if steps is None:
            raise ValueError("steps (the number of minibatches, in [1, inf)) is required for a sampling-law source")
        n_mb = check_int("steps", steps, lo=1)
        size = n_mb * B
        if sampling == "mc":
            raise ValueError("estimator='moments' on a sampling-law source needs sampling='rqmc' (or pass a Tensor of rows)")
    if (n_mb if blocks is not None else size) < 3:
        raise ValueError(f"estimator='moments' needs at least 3 rows in 3 minibatches; got N={size} rows at batch_size={B}")
    if blocks is not None:
        k = check_int("blocks", blocks, lo=3, hi=n_mb)
        edges = [min(a * B, size) for a, _ in _batch_bounds(n_mb, k)] + [size]
    else:  # without blocks, up to 32 row ranges still debias r̂²
        edges = [a for a, _ in _batch_bounds(size, min(32, size))] + [size]
    k = len(edges) - 1
    device = module_device(model.module)
    shape = (k, num_parameters(model.module))
    sums = torch.zeros(shape, dtype=accumulator_dtype(device), device=device)
    squares, counts = torch.zeros_like(sums), torch.zeros(k, dtype=sums.dtype, device=device)
    bounds = list(zip(edges[:-1], edges[1:]))
    # one iterator per pass, made (and so validated) before any work; rqmc draws each pass's scramble
    # seeds from noise_generator here, in pass order, and nothing else from it later
    walks = [_chunks(model, {"x": source}, bounds, B, {}, noise_generator, sampling) for _ in range(passes)]
    with tqdm(total=passes * size, disable=not progress, desc="adam second moment (moments)", unit="ex") as bar:
        for walk in walks:
            for j, a, z, noise, rows in walk:
                g = per_example_gradient_sums(model, rows["x"][0], noise)
                sums[j] += g.sum
                squares[j] += g.square_sum
                counts[j] += z - a
                bar.update(z - a)
    v = moment_second_moment(sums, squares, counts, B)
    name = f"adam-minibatch(B={B}, moments{', rqmc' if sampling == 'rqmc' else ''})"
    if blocks is None:
        return Diagonal(1.0 / (v.sqrt() + eps), name)
    return MomentBlockDiagonal(
        1.0 / (v.sqrt() + eps), name, block_sums=sums, block_weights=counts, row_edges=tuple(edges), eps=eps,
        block_square_sums=squares, batch_size=B,
    )


def second_moment_diag(model: GenerativeModel, source: Source, n: int | None = None, *, eps: float = 1e-8, **kwargs) -> Diagonal:
    """P = diag(1/(√E[g²] + eps)) from per-sample gradients (Adam at batch size 1, infinite steps)."""
    eps = check_real("eps", eps, 0.0, math.inf, lo_open=True)
    m = gradient_second_moment(model, source, n, diagonal=True, **kwargs)
    return Diagonal(1.0 / (m.value.sqrt() + eps), "second-moment-diag")


def empirical_fisher_diag(model: GenerativeModel, source: Source, n: int | None = None, *, damping: float = 1e-8, **kwargs) -> Diagonal:
    """P = diag(1/(E[g²] + damping)): a diagonal natural gradient from the empirical Fisher."""
    damping = check_real("damping", damping, 0.0, math.inf, lo_open=True)
    m = gradient_second_moment(model, source, n, diagonal=True, **kwargs)
    return Diagonal(1.0 / (m.value + damping), "empirical-fisher-diag")


def exact_inverse(matrix: Tensor, *, damping: float = 0.0, name: str = "inverse") -> Dense:
    """P = (M + damping·I)⁻¹ for a symmetric positive-definite M (Hessian or Fisher), via eigh.

    Args:
        matrix (Tensor): shape (p, p).
        damping (float): in [0, inf).
    """
    damping = check_real("damping", damping, 0.0, math.inf)
    check_tensor("matrix", matrix, ndim=2)
    M = 0.5 * (matrix.double() + matrix.double().T) + damping * torch.eye(matrix.shape[0], dtype=torch.float64, device=matrix.device)
    evals, evecs = torch.linalg.eigh(M)
    if float(evals.min()) <= 0:
        raise ValueError(
            f"matrix must be positive definite to invert (smallest eigenvalue {float(evals.min()):g}); "
            "add damping in (0, inf)"
        )
    return Dense((evecs / evals) @ evecs.T, name)


def matrix_power_sym(matrix: Tensor, power: float, name: str = "matrix") -> Tensor:
    """M^power for a symmetric positive-definite M via eigh (float64); ``name`` is used in errors."""
    M = 0.5 * (matrix.double() + matrix.double().T)
    evals, evecs = torch.linalg.eigh(M)
    if float(evals.min()) <= 0:
        raise ValueError(
            f"{name} must be numerically positive definite (eigenvalues in (0, inf)); its smallest "
            f"eigenvalue is {float(evals.min()):g} (largest {float(evals.max()):g})"
        )
    return (evecs * evals**power) @ evecs.T
