"""The Gaussian warm-up of App. B.1 of the paper, by Monte Carlo over training draws.

Truth N(0, I_D) (every Gaussian truth reduces to it by an affine map, which leaves the
population NLL differences unchanged).  The base model is the MLE (μ̂, Σ̂) of n samples; one
Neon step with a temperature-τ sampler moves Σ̂ to Σ̂ + aΣ̂⁻¹ with a = ½(1 − τ²)wη and leaves
μ̂ unchanged.  Σ̂ and Σ̂ + aΣ̂⁻¹ share eigenvectors (eigenvalues λ → λ + a/λ), so the
population-loss change is a sum over eigenvalues, computed exactly per draw.
"""

from __future__ import annotations

import torch
from torch import Tensor

from neon_theory.checks import check_generator, check_int, check_real
from neon_theory.rng import draw


def warmup_loss_change(dim: int, n: int, a_values, draws: int, generator: torch.Generator) -> Tensor:
    """ΔL_pop = L_pop(μ̂, Σ̂ + aΣ̂⁻¹) − L_pop(μ̂, Σ̂) for independent training draws.

    Args:
        dim (int): D in [1, inf).
        n (int): training-set size in [D + 1, inf) (Σ̂ must be invertible).
        a_values: step sizes a, each finite with λ + a/λ > 0 for every eigenvalue (a ≥ 0 is always safe).
        draws (int): number of independent training sets, in [1, inf).
        generator (torch.Generator): the source of every draw.

    Returns:
        Tensor: shape (draws, len(a_values)), float64, in nats.
    """
    check_int("dim", dim, lo=1)
    check_int("n", n, lo=dim + 1)
    check_int("draws", draws, lo=1)
    check_generator("generator", generator)
    a = torch.tensor([check_real("a", v) for v in a_values], dtype=torch.float64)
    chunk = max(1, 2_000_000 // (n * dim))  # bounded memory: draws are generated chunk by chunk, in order
    return torch.cat([_loss_change(min(chunk, draws - i), n, dim, a, generator) for i in range(0, draws, chunk)])


def _mle(draws: int, n: int, dim: int, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """(μ̂, eigenvalues, eigenvectors of Σ̂) of ``draws`` training sets of n points from N(0, I_D)."""
    x = draw(torch.randn, draws, n, dim, generator=generator, dtype=torch.float64)
    mu = x.mean(1)
    centred = x - mu[:, None, :]
    cov = centred.transpose(1, 2) @ centred / n  # MLE
    lam, U = torch.linalg.eigh(cov)
    return mu, lam, U


def warmup_first_order(dim: int, n: int, draws: int, generator: torch.Generator) -> Tensor:
    """Per training draw, the first-order quantities of App. B.1's expected improvement (truth N(0, I_D)).

    With G = ∇_Σ L_pop(μ̂, Σ̂) = ½(Σ̂⁻¹ − Σ̂⁻¹(I + μ̂μ̂ᵀ)Σ̂⁻¹), the columns are

    0. −tr(G)/D, whose mean is γ (E[G] = −γ I);
    1. tr(G Σ̂⁻¹) = dΔL/da at a = 0, the exact first-order change of the population loss along Σ̂ + aΣ̂⁻¹;
    2. tr(G_i Σ̂_j⁻¹) with j = i + 1 (cyclically): the same with the two factors taken from independent
       draws, whose mean is tr(E[G] E[Σ̂⁻¹]), the product of the expectations.

    Args:
        dim (int): D in [1, inf).
        n (int): training-set size in [D + 1, inf).
        draws (int): independent training sets in [2, inf).
        generator (torch.Generator): the source of every draw.

    Returns:
        Tensor: shape (draws, 3), float64.
    """
    check_int("dim", dim, lo=1)
    check_int("n", n, lo=dim + 1)
    check_int("draws", draws, lo=2)
    check_generator("generator", generator)
    mu, lam, U = _mle(draws, n, dim, generator)
    inv = U @ torch.diag_embed(1 / lam) @ U.transpose(1, 2)
    second = torch.eye(dim, dtype=torch.float64) + mu[:, :, None] * mu[:, None, :]
    grad = 0.5 * (inv - inv @ second @ inv)
    trace = grad.diagonal(dim1=1, dim2=2).sum(-1)
    coupled = (grad * inv).sum((1, 2))  # tr(G Σ̂⁻¹): both symmetric
    decoupled = (grad * inv.roll(-1, 0)).sum((1, 2))
    return torch.stack([-trace / dim, coupled, decoupled], 1)


def _loss_change(draws: int, n: int, dim: int, a: Tensor, generator: torch.Generator) -> Tensor:
    mu, lam, U = _mle(draws, n, dim, generator)
    # tr(Σ⁻¹(I + μμᵀ)) in the eigenbasis: Σ_i (1 + (Uᵀμ)_i²)/λ_i
    weight = 1 + (U.transpose(1, 2) @ mu[:, :, None])[..., 0] ** 2
    lam_new = lam[:, None, :] + a[None, :, None] / lam[:, None, :]
    if bool((lam_new <= 0).any()):
        raise ValueError("a is too negative: Σ̂ + aΣ̂⁻¹ is not positive definite for some draw")
    w = weight[:, None, :]
    return 0.5 * (torch.log(lam_new / lam[:, None, :]) + w / lam_new - w / lam[:, None, :]).sum(-1)
