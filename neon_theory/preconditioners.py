"""Preconditioners P ≻ 0: the geometry in which fine-tuning moves θ (DESIGN.md §5).

Every preconditioner maps v ↦ P v for v of shape (..., p) and gives the P-inner product.
Builders estimate P from a model and a data source:

* :func:`identity` — plain SGD.
* :func:`adam_minibatch` — the official toy's P = diag(1/(√v̂ + eps)), v̂ Adam's
  bias-corrected EMA of squared *minibatch* gradients.  Depends on the batch size B,
  since E[g_B²] = ḡ² + σ²/B.
* :func:`second_moment_diag` — diag(1/(√E[g²] + eps)) from per-sample gradients (B = 1).
* :func:`empirical_fisher_diag` — diag(1/(E[g²] + damping)), a diagonal natural gradient.
* :func:`exact_inverse` — dense H⁻¹ (or F⁻¹) for small models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ._validation import check_generator, check_int, check_real, check_spd, check_tensor
from .contracts import check_model
from .gradients import _chunk_grad, _draw_noise, _source_size, _take, gradient_second_moment
from .params import num_parameters, trainable_named_parameters


class Preconditioner:
    """Abstract P ≻ 0 of dimension p."""

    name: str = "preconditioner"

    @property
    def dim(self) -> int | None:
        """p, or ``None`` when any dimension is accepted."""
        return None

    def apply(self, v: Tensor) -> Tensor:
        """P v. v (Tensor): shape (..., p). Returns shape (..., p), float64."""
        raise NotImplementedError

    def matrix(self, p: int | None = None) -> Tensor:
        """Dense P, shape (p, p), float64."""
        p = self.dim if p is None else p
        if p is None:
            raise ValueError("p is required for a dimension-free preconditioner")
        return self.apply(torch.eye(p, dtype=torch.float64))

    def inner(self, a: Tensor, b: Tensor) -> Tensor:
        """⟨a, P b⟩ over the last dimension."""
        return (a.double() * self.apply(b)).sum(-1)

    def _check(self, v: Tensor) -> Tensor:
        check_tensor("v", v, finite=False)
        if self.dim is not None and v.shape[-1] != self.dim:
            raise ValueError(f"v must have last dimension p={self.dim}; got {v.shape[-1]}")
        return v.double()

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
        object.__setattr__(self, "diag", self.diag.double())

    @property
    def dim(self):
        return self.diag.shape[0]

    def apply(self, v):
        return self._check(v) * self.diag


@dataclass(frozen=True, eq=False)
class Dense(Preconditioner):
    """P given as a dense symmetric positive-definite matrix, shape (p, p)."""

    P: Tensor
    name: str = "dense"

    def __post_init__(self):
        check_spd("P", self.P)
        object.__setattr__(self, "P", 0.5 * (self.P.double() + self.P.double().T))

    @property
    def dim(self):
        return self.P.shape[0]

    def apply(self, v):
        return self._check(v) @ self.P


def identity(p: int | None = None) -> Identity:
    return Identity(None if p is None else check_int("p", p, lo=1))


def adam_minibatch(
    model,
    source,
    *,
    batch_size: int,
    steps: int,
    beta2: float = 0.999,
    eps: float = 1e-8,
    generator: torch.Generator | None = None,
    noise_generator: torch.Generator | None = None,
    progress: bool = False,
) -> Diagonal:
    """The official toy's Adam-minibatch preconditioner at fixed θ.

    v_t = β₂ v_{t−1} + (1−β₂) g_t², v̂ = v_T / (1 − β₂^T), P = diag(1/(√v̂ + eps)), where
    g_t is the mean gradient of minibatch t of ``batch_size`` examples.  With a finite
    tensor source, minibatches are drawn uniformly with replacement using ``generator``.

    Args:
        batch_size (int): B in [1, inf); P depends on it (E[g_B²] = ḡ² + σ²/B).
        steps (int): T in [1, inf), the number of minibatches.
        beta2 (float): in [0, 1).
        eps (float): in (0, inf).
    """
    check_model(model)
    B = check_int("batch_size", batch_size, lo=1)
    T = check_int("steps", steps, lo=1)
    beta2 = check_real("beta2", beta2, 0.0, 1.0, hi_open=True)
    eps = check_real("eps", eps, 0.0, math.inf, lo_open=True)
    check_generator("generator", generator)
    if isinstance(source, Tensor):
        size = source.shape[0]
    else:
        _source_size(source, B)
    params = [p for _, p in trainable_named_parameters(model.module)]
    v = torch.zeros(num_parameters(model.module), dtype=torch.float64)
    for _ in tqdm(range(T), disable=not progress, desc="adam second moment"):
        if isinstance(source, Tensor):
            idx = torch.randint(0, size, (B,), generator=generator)
            x, w = source[idx], None
        else:
            x, w = _take(source, 0, B, generator)
        g = _chunk_grad(model, x, _draw_noise(model, B, noise_generator), None if w is None else w / w.sum(), params)
        g = g / B if w is None else g
        v = beta2 * v + (1 - beta2) * g * g
    v_hat = v / (1 - beta2**T)
    return Diagonal(1.0 / (v_hat.sqrt() + eps), f"adam-minibatch(B={B})")


def second_moment_diag(model, source, n: int | None = None, *, eps: float = 1e-8, **kwargs) -> Diagonal:
    """P = diag(1/(√E[g²] + eps)) from per-sample gradients (Adam at batch size 1, infinite steps)."""
    eps = check_real("eps", eps, 0.0, math.inf, lo_open=True)
    m = gradient_second_moment(model, source, n, diagonal=True, **kwargs)
    return Diagonal(1.0 / (m.value.sqrt() + eps), "second-moment-diag")


def empirical_fisher_diag(model, source, n: int | None = None, *, damping: float = 1e-8, **kwargs) -> Diagonal:
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
    M = 0.5 * (matrix.double() + matrix.double().T) + damping * torch.eye(matrix.shape[0], dtype=torch.float64)
    evals, evecs = torch.linalg.eigh(M)
    if float(evals.min()) <= 0:
        raise ValueError(
            f"matrix must be positive definite to invert (smallest eigenvalue {float(evals.min()):g}); "
            "add damping in (0, inf)"
        )
    return Dense((evecs / evals) @ evecs.T, name)


def matrix_power_sym(matrix: Tensor, power: float) -> Tensor:
    """M^power for a symmetric positive-definite M via eigh (float64)."""
    M = 0.5 * (matrix.double() + matrix.double().T)
    evals, evecs = torch.linalg.eigh(M)
    if float(evals.min()) <= 0:
        raise ValueError(f"matrix must be positive definite; smallest eigenvalue {float(evals.min()):g}")
    return (evecs * evals**power) @ evecs.T
