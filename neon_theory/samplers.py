"""Typed, validated sampler specifications, and each model family's registry of how it implements them.

The conventions pinned here are explained in ``docs/theory.md`` (§3).

A sampler spec describes how an inference routine departs from the model's own law
p_θ.  Each spec reports whether it is *mode-seeking*, *neutral* or *diversity-seeking*
in the sense of the paper's Lemma B.6: q ∝ f(log p_θ)·p_θ with f nondecreasing
(mode-seeking) or nonincreasing (diversity-seeking).

Conventions (pinned):

* ``Temperature(value, convention="density")`` is the *density temperature* T: q ∝ p^{1/T}.
* ``Temperature(value, convention="std")`` is the *std temperature* τ_σ: every Gaussian
  standard deviation is multiplied by τ_σ (the official AR toy).  For a Gaussian
  q ∝ p^{1/τ_σ²}, so T = τ_σ².
* ``ScoreScale(zeta, where="x0")`` multiplies the score only inside the x̂₀ estimate of a
  DDIM step (the official diffusion toy); ``where="update"`` scales the whole update.
* ``Guidance(gamma)`` is classifier-free guidance s_u + γ(s_c − s_u); γ = 1 is the plain
  conditional model.
* ``Steps(n, solver)`` is the number of solver steps; ``n=None`` means the exact law.
"""

from __future__ import annotations

import enum
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor

from .checks import check_choice, check_int, check_real

SOLVERS = ("euler", "heun", "midpoint", "ddim", "ddpm")

#: The density temperatures T that float64 computes with: T and 1/T, and the moments of a
#: tempered law (which scale like T²), stay finite.  A std temperature τ_σ = √T has the
#: square-root range.
DENSITY_TEMPERATURE_RANGE = (1e-100, 1e100)


UNDEFINED_AT_NEUTRAL = "undefined at the neutral sampler"
"""What every table, JSON output and figure says of s, the P-cosine and w* at a neutral sampler
(the whole chain neutral: T = 1, k = V, p = 1; a finite-step ODE/DDIM grid is mode-seeking even at
ζ = γ = 1): there q = p_θ, so r_s = 0 in expectation and the cosine has no value; an estimate there
is noise.  Numeric outputs carry ``None``/NaN with this text beside it."""

#: The quantities (with their SEs and intervals) that have no value at a neutral sampler.
UNDEFINED_QUANTITIES = ("s", "s_plugin", "s_se", "s_ci", "cosine", "cosine_se", "cosine_ci", "w_star", "w_star_se", "w_star_ci")


def undefined_at_neutral(record: dict, neutral: bool) -> dict:
    """``record`` with the :data:`UNDEFINED_QUANTITIES` it holds set to ``None`` and the field
    ``undefined`` = :data:`UNDEFINED_AT_NEUTRAL` beside them when ``neutral`` (a sampler's
    :meth:`SamplerSpec.is_neutral`); unchanged otherwise, or when it holds none of them.

    Every record, report and table that reports s, the P-cosine or w* passes through here, so
    that an estimate of noise at the neutral sampler is never shown as a value.
    """
    held = [k for k in UNDEFINED_QUANTITIES if k in record]
    if not neutral or not held:
        return record
    return record | dict.fromkeys(held) | {"undefined": UNDEFINED_AT_NEUTRAL}


class Sharpening(str, enum.Enum):
    """Direction in which a sampler tilts the model's law."""

    MODE_SEEKING = "mode-seeking"
    NEUTRAL = "neutral"
    DIVERSITY_SEEKING = "diversity-seeking"
    MIXED = "mixed"


def _by_sign(x: float, neutral_at: float) -> Sharpening:
    if x > neutral_at:
        return Sharpening.MODE_SEEKING
    if x < neutral_at:
        return Sharpening.DIVERSITY_SEEKING
    return Sharpening.NEUTRAL


class SamplerSpec(ABC):
    """Abstract sampler spec: a frozen, validated description of an inference routine."""

    #: Assumption the label rests on (``None`` when it is exact).
    assumption: str | None = None

    @abstractmethod
    def sharpening(self, vocab_size: int | None = None) -> Sharpening:
        """The f(log p) label.  ``vocab_size`` lets truncation samplers detect neutrality."""

    def is_neutral(self, vocab_size: int | None = None) -> bool:
        return self.sharpening(vocab_size) is Sharpening.NEUTRAL

    def to_dict(self) -> dict:
        d = {"kind": type(self).__name__}
        d.update({k: getattr(self, k) for k in self.__dataclass_fields__})  # type: ignore[attr-defined]
        return d


@dataclass(frozen=True)
class Temperature(SamplerSpec):
    """Temperature in either convention.

    Args:
        value (float): T (``convention="density"``) in [1e-100, 1e100], or τ_σ
            (``convention="std"``) in [1e-50, 1e50] (:data:`DENSITY_TEMPERATURE_RANGE`:
            beyond it float64 cannot represent 1/T or the tempered law's moments).
        convention (str): ``"density"`` (q ∝ p^{1/T}) or ``"std"`` (σ → τ_σ σ).
    """

    value: float
    convention: str = "density"

    def __post_init__(self):
        check_choice("convention", self.convention, ("density", "std"))
        lo, hi = DENSITY_TEMPERATURE_RANGE
        name = "temperature"
        if self.convention == "std":
            lo, hi, name = math.sqrt(lo), math.sqrt(hi), "std-temperature"
        object.__setattr__(self, "value", check_real(name, self.value, lo, hi))

    @property
    def density_power(self) -> float:
        """T such that q ∝ p^{1/T} (for Gaussians, T = τ_σ²)."""
        return self.value if self.convention == "density" else self.value**2

    @property
    def std_scale(self) -> float:
        """τ_σ, the factor on Gaussian standard deviations (τ_σ = √T)."""
        return self.value if self.convention == "std" else math.sqrt(self.value)

    def sharpening(self, vocab_size: int | None = None) -> Sharpening:
        # Lower temperature sharpens: f(z) = exp((1/T - 1) z) is increasing iff T < 1.
        return _by_sign(1.0 / self.density_power, 1.0)


def std_to_density_temperature(tau_std: float) -> float:
    """Convert a std temperature τ_σ to the density temperature T = τ_σ² (exact for Gaussians)."""
    return Temperature(tau_std, "std").density_power


def density_to_std_temperature(temperature: float) -> float:
    """Convert a density temperature T to the std temperature τ_σ = √T (exact for Gaussians)."""
    return Temperature(temperature, "density").std_scale


@dataclass(frozen=True)
class TopK(SamplerSpec):
    """Keep the k most probable tokens.  k ≥ vocabulary size is neutral.

    Args:
        k (int): in [1, inf).
    """

    k: int

    def __post_init__(self):
        check_int("k", self.k, lo=1)

    def sharpening(self, vocab_size: int | None = None) -> Sharpening:
        if vocab_size is not None and self.k >= check_int("vocab_size", vocab_size, lo=1):
            return Sharpening.NEUTRAL
        return Sharpening.MODE_SEEKING


@dataclass(frozen=True)
class TopP(SamplerSpec):
    """Nucleus sampling: the smallest set of most probable tokens with mass ≥ p (tokens tied with
    the least probable one kept are kept too, so the set never depends on the order of ties).

    Args:
        p (float): in (0, 1]; p = 1 is neutral.
    """

    p: float

    def __post_init__(self):
        object.__setattr__(self, "p", check_real("p", self.p, 0.0, 1.0, lo_open=True))

    def sharpening(self, vocab_size: int | None = None) -> Sharpening:
        return Sharpening.NEUTRAL if self.p == 1.0 else Sharpening.MODE_SEEKING


@dataclass(frozen=True)
class ScoreScale(SamplerSpec):
    """Multiply the learned score by ζ during sampling.

    Args:
        zeta (float): in (0, inf); ζ > 1 sharpens, ζ < 1 diversifies.
        where (str): ``"x0"`` (inside the x̂₀ estimate only, the official toy) or ``"update"``.
    """

    zeta: float
    where: str = "x0"

    def __post_init__(self):
        check_choice("where", self.where, ("x0", "update"))
        object.__setattr__(self, "zeta", check_real("zeta", self.zeta, 0.0, math.inf, lo_open=True))

    def sharpening(self, vocab_size: int | None = None) -> Sharpening:
        return _by_sign(self.zeta, 1.0)


@dataclass(frozen=True)
class Guidance(SamplerSpec):
    """Classifier-free guidance s_u + γ(s_c − s_u).

    Args:
        gamma (float): in [0, inf); γ = 1 is the conditional model, γ > 1 sharpens
            relative to the guided law (the paper's argument, not a theorem).
    """

    gamma: float
    assumption: str | None = field(default="CFG tilts toward p(c|x) (paper's argument)", init=False)

    def __post_init__(self):
        object.__setattr__(self, "gamma", check_real("gamma", self.gamma, 0.0, math.inf))

    def sharpening(self, vocab_size: int | None = None) -> Sharpening:
        return _by_sign(self.gamma, 1.0)


@dataclass(frozen=True)
class Steps(SamplerSpec):
    """A finite number of ODE/SDE solver steps.

    Args:
        n (int | None): steps in [1, inf); ``None`` means the exact (continuous-time) law.
        solver (str): ``"euler"``, ``"heun"``, ``"midpoint"``, ``"ddim"`` or ``"ddpm"``.
        eta (float): DDIM stochasticity in [0, 1] (0 = deterministic DDIM, 1 = DDPM-like);
            used by ``"ddim"`` only.

    Finite steps reweight the terminal law by exp(h/2·C̄(x₀)); that is mode-seeking only
    under the unverified assumption A-MONO, which ``assumption`` records.
    """

    n: int | None
    solver: str = "euler"
    eta: float = 0.0
    assumption: str | None = field(default="A-MONO (unverified)", init=False)

    def __post_init__(self):
        if self.n is not None:
            check_int("n (solver steps)", self.n, lo=1)
        check_choice("solver", self.solver, SOLVERS)
        object.__setattr__(self, "eta", check_real("eta", self.eta, 0.0, 1.0))

    def sharpening(self, vocab_size: int | None = None) -> Sharpening:
        return Sharpening.NEUTRAL if self.n is None else Sharpening.MODE_SEEKING


@dataclass(frozen=True)
class Chain(SamplerSpec):
    """Several specs applied together (e.g. temperature then top-k)."""

    specs: tuple

    def __post_init__(self):
        if not isinstance(self.specs, tuple) or not self.specs:
            raise ValueError("specs must be a non-empty tuple of SamplerSpec")
        for s in self.specs:
            if not isinstance(s, SamplerSpec):
                raise ValueError(f"specs must contain SamplerSpec instances; got {type(s).__name__}")

    def sharpening(self, vocab_size: int | None = None) -> Sharpening:
        labels = {s.sharpening(vocab_size) for s in self.specs} - {Sharpening.NEUTRAL}
        if not labels:
            return Sharpening.NEUTRAL
        return labels.pop() if len(labels) == 1 else Sharpening.MIXED

    def to_dict(self) -> dict:
        return {"kind": "Chain", "specs": [s.to_dict() for s in self.specs]}


def as_spec(sampler: SamplerSpec | None) -> SamplerSpec:
    """``None`` means plain sampling: density temperature 1."""
    if sampler is None:
        return Temperature(1.0)
    if not isinstance(sampler, SamplerSpec):
        raise ValueError(f"sampler must be a SamplerSpec or None; got {type(sampler).__name__}")
    return sampler


class SamplerImplementations:
    """How one model family implements the sampler specs it supports: one function per spec type.

    A family gets its registry from :func:`implementations` and registers ``fn(spec, state) ->
    state`` per spec type.  :meth:`apply` folds a spec (a ``Chain`` left to right) into the
    family's state: its solver settings, a temperature, or logits.  Adding a sampler is one spec
    class here and one registered function per family that supports it.

    Args:
        family (str): the name used in errors, e.g. ``"the Gaussian family"``.
    """

    def __init__(self, family: str):
        if not isinstance(family, str) or not family:
            raise ValueError("family must be a non-empty string")
        self.family = family
        self._functions: dict[type, Callable] = {}

    def register(self, spec_type: type):
        """Decorator: ``fn(spec, state) -> state`` implements ``spec_type`` for this family."""
        if not (isinstance(spec_type, type) and issubclass(spec_type, SamplerSpec)) or spec_type is Chain:
            raise ValueError(f"spec_type must be a SamplerSpec class other than Chain; got {spec_type!r}")

        def decorator(fn: Callable) -> Callable:
            self._functions[spec_type] = fn
            return fn

        return decorator

    def modules(self) -> tuple[str, ...]:
        """The modules that define this family's sampler functions (their code computes samples)."""
        return tuple(sorted({fn.__module__ for fn in self._functions.values()}))

    @property
    def supported(self) -> tuple[str, ...]:
        """Names of the spec types this family implements."""
        return tuple(t.__name__ for t in self._functions)

    def apply(self, sampler: SamplerSpec | None, state):
        """Fold ``sampler`` into ``state``.

        Raises:
            ValueError: naming the family and the spec, for a spec it does not implement (a
                neutral one, such as the ``Temperature(1)`` that ``None`` stands for, is skipped).
        """
        for s in self._parts(sampler):
            fn = self._functions.get(type(s))
            state = state if fn is None else fn(s, state)
        return state

    def check(self, sampler: SamplerSpec | None) -> SamplerSpec:
        """``sampler`` (``None``: the plain law) if this family implements every part of it, without
        applying it: a cell validates its sampler once, when it is built.

        Raises:
            ValueError: as :meth:`apply`.
        """
        self._parts(sampler)
        return as_spec(sampler)

    def _parts(self, sampler: SamplerSpec | None) -> tuple:
        spec = as_spec(sampler)
        parts = spec.specs if isinstance(spec, Chain) else (spec,)
        for s in parts:
            if type(s) not in self._functions and not s.is_neutral():
                raise ValueError(f"{self.family} does not implement {type(s).__name__} samplers; it implements {', '.join(self.supported)}")
        return parts


#: Every family's registry, by family name: where to look up who supports which sampler.
IMPLEMENTATIONS: dict[str, SamplerImplementations] = {}


def implementations(family: str) -> SamplerImplementations:
    """The sampler registry of ``family``, created on first use."""
    if family not in IMPLEMENTATIONS:
        IMPLEMENTATIONS[family] = SamplerImplementations(family)
    return IMPLEMENTATIONS[family]


def supported_samplers() -> dict[str, tuple[str, ...]]:
    """Family → the spec types it implements (families register when their module is imported)."""
    return {name: impl.supported for name, impl in IMPLEMENTATIONS.items()}


CATEGORICAL = implementations("categorical logits")


@CATEGORICAL.register(Temperature)
def _temperature_logits(s: Temperature, logits: Tensor) -> Tensor:
    return logits / s.density_power


@CATEGORICAL.register(TopK)
def _top_k_logits(s: TopK, logits: Tensor) -> Tensor:
    k = min(s.k, logits.shape[-1])
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, -math.inf)


@CATEGORICAL.register(TopP)
def _top_p_logits(s: TopP, logits: Tensor) -> Tensor:
    if s.p >= 1.0:
        return logits
    probs = torch.softmax(logits, dim=-1)
    sorted_p = torch.sort(probs, dim=-1, descending=True).values
    # keep a token if the mass strictly before it is < p (always keeps the top token); then keep
    # every token tied with the last one kept, so the set does not depend on how sort orders ties
    keep_sorted = torch.cumsum(sorted_p, dim=-1) - sorted_p < s.p
    threshold = sorted_p.masked_fill(~keep_sorted, math.inf).amin(dim=-1, keepdim=True)
    return logits.masked_fill(probs < threshold, -math.inf)


def categorical_logits(logits: Tensor, sampler: SamplerSpec | None) -> Tensor:
    """Apply temperature / top-k / top-p to categorical logits (last dimension = vocabulary).

    Args:
        logits (Tensor): shape (..., V).
        sampler: a ``Temperature``, ``TopK``, ``TopP``, a ``Chain`` of them, or ``None``.

    Returns:
        Tensor: shape (..., V), logits of q; removed tokens get −inf.  Order in a ``Chain``
        is the order given (temperature first is the usual practice).
    """
    return CATEGORICAL.apply(sampler, logits)


def _multiply_temperature(s: Temperature, T: float) -> float:
    return T * s.density_power


def temperature_family(family: str) -> SamplerImplementations:
    """The registry of a family whose only sampler is a temperature (a chain multiplies T)."""
    impl = implementations(family)
    impl.register(Temperature)(_multiply_temperature)
    return impl


def total_temperature(sampler: SamplerSpec | None, family: str = "this model") -> float:
    """The density temperature T of a spec made only of Temperatures (``None`` → 1; a chain multiplies).

    Raises ``ValueError`` naming ``family`` for any other spec (e.g. top-k on a Gaussian).
    """
    impl = IMPLEMENTATIONS[family] if family in IMPLEMENTATIONS else temperature_family(family)
    T = impl.apply(sampler, 1.0)
    lo, hi = DENSITY_TEMPERATURE_RANGE
    if not lo * (1 - 1e-9) <= T <= hi * (1 + 1e-9):  # slack: τ_σ = 1e50 squares to 1e100 up to rounding
        raise ValueError(f"the chained temperatures multiply to T = {T:g}; their product must lie in [{lo:g}, {hi:g}]")
    return T
