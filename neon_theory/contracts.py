"""The model contract every generator implements, and an adapter for user code.

A model plugs into the engine by holding its parameters θ in an ``nn.Module`` and
providing:

* ``draw_noise(n, generator)``: the randomness inside the loss ((t, ε) for diffusion and
  flow matching, ``None`` for NLL models).  Drawing it *outside* the loss is what lets
  real and synthetic gradient estimates share common random numbers.
* ``per_example_loss(x, noise)``: ℓ_θ(x) for each row, shape (n,), differentiable in
  the module's parameters.
* ``sample(n, sampler, generator)``: n draws from q_{θ,κ} (no gradient).
* optionally ``log_prob(x)``: the exact log-density, shape (n,).

Noise is ``None``, a tensor with leading dimension n, or a tuple / dict of such tensors.

Devices: the engine moves data rows to the device of ``module``'s parameters, and
``draw_noise`` and ``sample`` should return tensors there too.  The generator may live
elsewhere (named streams are CPU generators): draw on its device and move the result, as
:func:`neon_theory.rng.draw` does, so that a stream gives the same numbers on every device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol, Union, runtime_checkable

import torch
from torch import Tensor, nn

from .checks import check_draw
from .samplers import SamplerSpec

Noise = Union[None, Tensor, tuple, Mapping[str, Tensor]]


@runtime_checkable
class GenerativeModel(Protocol):
    """Protocol for a generator whose parameters live in ``module``."""

    module: nn.Module

    def draw_noise(self, n: int, generator: torch.Generator) -> Noise:
        """Randomness of the loss for n examples (``None`` for NLL models)."""
        ...

    def per_example_loss(self, x: Tensor, noise: Noise) -> Tensor:
        """ℓ_θ(x). x (Tensor): shape (n, ...). Returns shape (n,)."""
        ...

    def sample(self, n: int, sampler: SamplerSpec | None, generator: torch.Generator) -> Tensor:
        """n samples from q_{θ,κ} (``sampler=None``: the model's own law); shape (n, ...)."""
        ...


@runtime_checkable
class Target(Protocol):
    """The real data law, or anything that can be sampled with an explicit generator."""

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        ...


@runtime_checkable
class QuasiRandomModel(Protocol):
    """Optional second contract: a model whose draws are functions of uniforms, for ``sampling="rqmc"``
    (:mod:`neon_theory.qmc`, :func:`neon_theory.probe.rqmc_probe`).

    * ``sample_uniform_dim(sampler)``: uniforms per draw of ``sample`` with that sampler;
    * ``sample_from_uniform(u, sampler)``: the draws as a function of u, shape (n, that dim),
      with the law of ``sample(n, sampler, g)``;
    * ``noise_dim`` and ``noise_from_uniform(u)``: the same for the loss noise of ``draw_noise``;
      needed only when the loss draws noise (an NLL model has none).

    :func:`neon_theory.testing.assert_quasi_random` checks a model or law against it.
    """

    def sample_uniform_dim(self, sampler: SamplerSpec | None) -> int:
        ...

    def sample_from_uniform(self, u: Tensor, sampler: SamplerSpec | None) -> Tensor:
        ...


@runtime_checkable
class QuasiRandomNoise(Protocol):
    """The loss-noise half of :class:`QuasiRandomModel` (for a model whose ``draw_noise`` is not ``None``)."""

    noise_dim: int

    def noise_from_uniform(self, u: Tensor) -> Noise:
        ...


@runtime_checkable
class QuasiRandomLaw(Protocol):
    """Optional: a data law (a :class:`Target`) whose draws are functions of uniforms, for ``sampling="rqmc"``:
    ``uniform_dim()`` uniforms per draw, and ``sample_from_uniform(u)`` with the law of ``sample(n, g)``."""

    def uniform_dim(self) -> int:
        ...

    def sample_from_uniform(self, u: Tensor) -> Tensor:
        ...


@dataclass
class ModelAdapter:
    """Wrap a user's ``nn.Module``, loss and sampler as a :class:`GenerativeModel`.

    Args:
        module (nn.Module): holds θ.
        loss_fn: ``loss_fn(module, x, noise) -> Tensor`` of shape (n,).
        sample_fn: ``sample_fn(module, n, sampler, generator) -> Tensor`` of shape (n, ...).
        noise_fn: ``noise_fn(n, generator) -> Noise``; default: no noise (NLL models).
        log_prob_fn: optional ``log_prob_fn(module, x) -> Tensor`` of shape (n,).

    Example:
        >>> net = nn.Linear(2, 2)
        >>> model = ModelAdapter(net, loss_fn=lambda m, x, _: ((m(x) - x) ** 2).sum(-1),
        ...                      sample_fn=lambda m, n, s, g: torch.randn(n, 2, generator=g, device=g.device))
    """

    module: nn.Module
    loss_fn: Callable[[nn.Module, Tensor, Noise], Tensor]
    sample_fn: Callable[[nn.Module, int, Any, torch.Generator], Tensor]
    noise_fn: Callable[[int, torch.Generator], Noise] | None = None
    log_prob_fn: Callable[[nn.Module, Tensor], Tensor] | None = None

    def __post_init__(self):
        if not isinstance(self.module, nn.Module):
            raise ValueError(f"module must be a torch.nn.Module; got {type(self.module).__name__}")
        for name in ("loss_fn", "sample_fn"):
            if not callable(getattr(self, name)):
                raise ValueError(f"{name} must be callable")
        for name in ("noise_fn", "log_prob_fn"):
            f = getattr(self, name)
            if f is not None and not callable(f):
                raise ValueError(f"{name} must be callable or None")

    def draw_noise(self, n: int, generator: torch.Generator) -> Noise:
        check_draw(n, generator)
        return None if self.noise_fn is None else self.noise_fn(n, generator)

    def per_example_loss(self, x: Tensor, noise: Noise) -> Tensor:
        return self.loss_fn(self.module, x, noise)

    def sample(self, n: int, sampler, generator: torch.Generator) -> Tensor:
        check_draw(n, generator)
        with torch.no_grad():
            return self.sample_fn(self.module, n, sampler, generator)

    def log_prob(self, x: Tensor) -> Tensor:
        if self.log_prob_fn is None:
            raise NotImplementedError("this adapter was built without log_prob_fn")
        return self.log_prob_fn(self.module, x)


def check_model(model) -> GenerativeModel:
    """Raise ``ValueError`` unless ``model`` satisfies :class:`GenerativeModel`."""
    missing = [a for a in ("module", "draw_noise", "per_example_loss", "sample") if not hasattr(model, a)]
    if missing:
        raise ValueError(
            f"model must implement the GenerativeModel contract; {type(model).__name__} lacks {', '.join(missing)}"
        )
    if not isinstance(model.module, nn.Module):
        raise ValueError("model.module must be a torch.nn.Module holding the parameters θ")
    return model


def noise_rows(noise: Noise, index) -> Noise:
    """Select rows of a noise object (``None``, tensor, tuple or dict of tensors)."""
    if noise is None:
        return None
    if isinstance(noise, Tensor):
        return noise[index]
    if isinstance(noise, tuple):
        return tuple(noise_rows(v, index) for v in noise)
    if isinstance(noise, Mapping):
        return {k: noise_rows(v, index) for k, v in noise.items()}
    raise ValueError(f"noise must be None, a Tensor, a tuple or a dict of tensors; got {type(noise).__name__}")
