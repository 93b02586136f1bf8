"""Randomised quasi-Monte Carlo (RQMC): population expectations from scrambled Sobol points.

A population gradient E[∇ℓ_θ(x, ξ)] integrates over the data row x and the loss noise ξ
(for diffusion: t and ε).  When both are smooth maps of uniforms, x = X(u_x) and
ξ = Ξ(u_ξ), the rows can be a scrambled Sobol sequence in (u_x, u_ξ) instead of
independent draws.  Every point is still uniform, so the estimate is unbiased; the points
fill the cube evenly, so its variance falls much faster than 1/n for integrands that are
smooth or piecewise smooth (``neon-theory bench`` measures the gain).

Standard errors stay honest because each batch of the estimators is one *independent*
scramble: the batch means are i.i.d., and the batch-means standard error and the
delete-one-batch jackknife of :func:`~neon_theory.alignment.alignment` apply unchanged.
The price is that each batch must be long enough for the points to fill the cube (a few
thousand points), so use few batches (8–32).

The optional methods that let a source or a model be driven by uniforms:

* a data law (:class:`~neon_theory.contracts.Target`) or a model's sampling law
  (:class:`~neon_theory.gradients.ModelLaw`): ``uniform_dim(...)`` and
  ``sample_from_uniform(u)``, u of shape (n, uniform_dim) → rows;
* a model whose loss draws noise: ``noise_dim`` and ``noise_from_uniform(u)``, u of shape
  (n, noise_dim) → noise, with the same law as ``draw_noise``.

A finite ``Tensor`` source keeps its rows as given; only its loss noise is quasi-random.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.quasirandom import SobolEngine

from .checks import check_int

#: the largest dimension torch's Sobol engine supports
MAX_DIM = SobolEngine.MAXDIM
#: uniforms are kept this far inside (0, 1), so that inverse CDFs stay finite
EDGE = 1e-12


def sobol_uniforms(n: int, dim: int, seed: int) -> Tensor:
    """n points of a scrambled Sobol sequence in (0, 1)^dim, shape (n, dim), float64 on the CPU.

    Args:
        n (int): points, in [1, inf); powers of 2 keep the balance properties exact.
        dim (int): in [1, 21201].
        seed (int): the scramble, in [0, 2**63); different seeds give independent randomisations.
    """
    n = check_int("n", n, lo=1)
    dim = check_int("dim", dim, lo=1, hi=MAX_DIM)
    seed = check_int("seed", seed, lo=0, hi=2**63 - 1)
    return SobolEngine(dim, scramble=True, seed=seed).draw(n, dtype=torch.float64).clamp(EDGE, 1 - EDGE)


def normal_from_uniform(u: Tensor) -> Tensor:
    """Standard normal quantiles Φ⁻¹(u), same shape and dtype as u."""
    return torch.special.ndtri(u.clamp(EDGE, 1 - EDGE))


def source_uniform_dim(source) -> int:
    """The uniforms a law source needs per row; ``ValueError`` if it cannot be driven by uniforms."""
    dim = getattr(source, "uniform_dim", None)
    if not callable(dim) or not callable(getattr(source, "sample_from_uniform", None)):
        raise ValueError(
            f"sampling='rqmc' needs sources that are Tensors or laws with uniform_dim() and sample_from_uniform(u) (contracts.QuasiRandomLaw); "
            f"{type(source).__name__} has neither (use sampling='mc')"
        )
    return check_int("uniform_dim()", dim(), lo=1)


def noise_uniform_dim(model) -> int:
    """The uniforms a model's loss noise needs per row (0: the loss draws no noise)."""
    if model.draw_noise(1, torch.Generator().manual_seed(0)) is None:
        return 0
    if not callable(getattr(model, "noise_from_uniform", None)) or not isinstance(getattr(model, "noise_dim", None), int):
        raise ValueError(
            f"sampling='rqmc' needs a model with noise_dim and noise_from_uniform(u) when its loss draws noise (contracts.QuasiRandomNoise); "
            f"{type(model).__name__} has neither (use sampling='mc')"
        )
    return check_int("noise_dim", model.noise_dim, lo=1)


def scramble_seeds(generator: torch.Generator, k: int) -> list[int]:
    """k scramble seeds drawn from ``generator`` (one per batch: independent randomisations)."""
    return [int(s) for s in torch.randint(0, 2**62, (k,), generator=generator, device=generator.device).tolist()]


__all__ = ["MAX_DIM", "normal_from_uniform", "sobol_uniforms"]
