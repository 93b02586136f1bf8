"""Gaussian-mixture targets with exact log-density, score, sampling and noised laws.

Noising a mixture keeps it a mixture, so every noise level has an exact density and score:

* VP (DDPM) schedule: x_t = √ᾱ x₀ + √(1−ᾱ) ε  ⇒ components N(√ᾱ μ_k, ᾱ Σ_k + (1−ᾱ) I).
* VE / EDM schedule: x_σ = x₀ + σ ε            ⇒ components N(μ_k, Σ_k + σ² I).

Optional integer class labels (one per component) give class-conditional laws for guidance.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from neon_theory.checks import check_draw, check_int, check_real, check_spd, check_tensor
from neon_theory.qmc import normal_from_uniform
from neon_theory.rng import draw, multinomial

DTYPE = torch.float64


class GMM:
    """A mixture Σ_k π_k N(μ_k, Σ_k) in ℝ^D.

    Args:
        weights (Tensor): shape (K,), positive, summing to 1.
        means (Tensor): shape (K, D).
        covs (Tensor): shape (K, D, D), each symmetric positive definite.
        labels (Tensor | None): shape (K,), integer class of each component.
    """

    def __init__(self, weights: Tensor, means: Tensor, covs: Tensor, labels: Tensor | None = None):
        check_tensor("means", means, ndim=2)
        K, D = means.shape
        check_int("number of components", K, lo=1)
        check_tensor("weights", weights, shape=(K,))
        check_tensor("covs", covs, shape=(K, D, D))
        w = weights.to(DTYPE)
        if bool((w <= 0).any()) or abs(float(w.sum()) - 1) > 1e-9:
            raise ValueError("weights must be positive and sum to 1 (within 1e-9)")
        for k in range(K):
            check_spd(f"covs[{k}]", covs[k])
        if labels is not None:
            check_tensor("labels", labels, shape=(K,))
            if labels.is_floating_point() or bool((labels < 0).any()):
                raise ValueError("labels must be nonnegative integers, one per component")
            labels = labels.long()
        self.weights = w / w.sum()
        self.means = means.to(DTYPE)
        self.covs = 0.5 * (covs.to(DTYPE) + covs.to(DTYPE).transpose(1, 2))
        self.labels = labels
        self._chol = torch.linalg.cholesky(self.covs)

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @property
    def num_classes(self) -> int:
        return 0 if self.labels is None else int(self.labels.max()) + 1

    # -- moments ----------------------------------------------------------------------------
    def mean(self) -> Tensor:
        """E[x], shape (D,)."""
        return self.weights @ self.means

    def cov(self) -> Tensor:
        """Cov[x], shape (D, D) (law of total covariance)."""
        m = self.mean()
        diff = self.means - m
        return (self.weights[:, None, None] * (self.covs + diff[:, :, None] * diff[:, None, :])).sum(0)

    # -- density and score --------------------------------------------------------------------
    def component_log_prob(self, x: Tensor) -> Tensor:
        """log N(x; μ_k, Σ_k), shape (n, K)."""
        check_tensor("x", x, shape=(None, self.dim), finite=False)
        diff = x.to(self.means)[:, None, :] - self.means[None]  # (n, K, D)
        z = torch.linalg.solve_triangular(self._chol[None], diff[..., None], upper=False)[..., 0]
        logdet = torch.log(torch.diagonal(self._chol, dim1=1, dim2=2)).sum(-1)
        return -0.5 * (z**2).sum(-1) - logdet - 0.5 * self.dim * math.log(2 * math.pi)

    def log_prob(self, x: Tensor) -> Tensor:
        """log p(x), shape (n,)."""
        return torch.logsumexp(self.component_log_prob(x) + torch.log(self.weights), dim=-1)

    def responsibilities(self, x: Tensor) -> Tensor:
        """p(k | x), shape (n, K)."""
        return torch.softmax(self.component_log_prob(x) + torch.log(self.weights), dim=-1)

    def score(self, x: Tensor) -> Tensor:
        """∇_x log p(x), shape (n, D)."""
        r = self.responsibilities(x)
        diff = self.means[None] - x.to(self.means)[:, None, :]
        comp = torch.cholesky_solve(diff[..., None], self._chol[None])[..., 0]  # Σ_k⁻¹ (μ_k − x)
        return (r[..., None] * comp).sum(1)

    # -- sampling ---------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """n draws, shape (n, D), float64."""
        return self.sample_with_labels(n, generator)[0]

    @torch.no_grad()
    def sample_with_labels(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """n draws and their component indices (or class labels when given), shapes (n, D), (n,), on the mixture's device."""
        check_draw(n, generator)
        k = multinomial(self.weights, n, generator=generator, replacement=True)
        z = draw(torch.randn, n, self.dim, generator=generator, dtype=DTYPE, device=self.means.device)
        x = self.means[k] + (self._chol[k] @ z[..., None])[..., 0]
        return x, (k if self.labels is None else self.labels[k])

    def vp_noise_posterior_mean(self, x_t: Tensor, alpha_bar: Tensor) -> Tensor:
        """E[ε | x_t] for x_t = √ᾱ x₀ + √(1−ᾱ) ε with x₀ from this mixture, one ᾱ per row.

        It is −√(1−ᾱ) ∇ log p_ᾱ(x_t), with p_ᾱ the VP-noised mixture (:meth:`noised_vp`).

        Args:
            x_t (Tensor): shape (n, D).
            alpha_bar (Tensor): shape (n,), in [0, 1] (ᾱ = 1: no noise, E[ε | x_t] = 0).

        Returns:
            Tensor: shape (n, D), float64.
        """
        check_tensor("x_t", x_t, shape=(None, self.dim))
        ab = check_tensor("alpha_bar", alpha_bar, shape=(x_t.shape[0],)).to(self.means)
        if bool((ab < 0).any()) or bool((ab > 1).any()):
            raise ValueError("alpha_bar must lie in [0, 1]")
        a = ab[:, None, None, None]
        eye = torch.eye(self.dim, dtype=DTYPE, device=self.means.device)
        chol = torch.linalg.cholesky(a * self.covs[None] + (1 - a) * eye)  # (n, K, D, D)
        diff = x_t.to(self.means)[:, None, :] - ab.sqrt()[:, None, None] * self.means[None]  # (n, K, D)
        z = torch.linalg.solve_triangular(chol, diff[..., None], upper=False)
        log_pdf = -0.5 * (z[..., 0] ** 2).sum(-1) - torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
        r = torch.softmax(log_pdf + torch.log(self.weights), dim=-1)  # p(k | x_t); 2π terms cancel
        solved = torch.linalg.solve_triangular(chol.transpose(-1, -2), z, upper=True)[..., 0]  # C_k⁻¹ (x_t − √ᾱ μ_k)
        return (1 - ab).sqrt()[:, None] * (r[..., None] * solved).sum(1)

    def uniform_dim(self) -> int:
        """Uniforms per draw of :meth:`sample_from_uniform`: D (+ 1 for the component when K > 1)."""
        return self.dim + (1 if self.weights.shape[0] > 1 else 0)

    def sample_from_uniform(self, u: Tensor) -> Tensor:
        """Draws as a function of uniforms u, shape (n, uniform_dim()) (randomised QMC, see
        :mod:`neon_theory.qmc`): x = μ_k + L_k Φ⁻¹(u[:, :D]), with the component k the quantile of
        the last column under the weights.  Returns shape (n, D), float64."""
        check_tensor("u", u, shape=(None, self.uniform_dim()))
        u = u.to(self.means)
        if self.weights.shape[0] > 1:
            k = torch.searchsorted(torch.cumsum(self.weights, 0), u[:, -1].contiguous()).clamp(max=self.weights.shape[0] - 1)
        else:
            k = torch.zeros(u.shape[0], dtype=torch.long, device=u.device)
        z = normal_from_uniform(u[:, : self.dim])
        return self.means[k] + (self._chol[k] @ z[..., None])[..., 0]

    # -- transforms -------------------------------------------------------------------------
    def noised_vp(self, alpha_bar: float) -> "GMM":
        """The law of √ᾱ x₀ + √(1−ᾱ) ε, for ᾱ in (0, 1]."""
        a = check_real("alpha_bar", alpha_bar, 0.0, 1.0, lo_open=True)
        eye = torch.eye(self.dim, dtype=DTYPE, device=self.means.device)
        return GMM(self.weights, math.sqrt(a) * self.means, a * self.covs + (1 - a) * eye, self.labels)

    def noised_ve(self, sigma: float) -> "GMM":
        """The law of x₀ + σ ε, for σ in [0, inf)."""
        s = check_real("sigma", sigma, 0.0, math.inf)
        return GMM(self.weights, self.means, self.covs + s * s * torch.eye(self.dim, dtype=DTYPE, device=self.means.device), self.labels)

    def condition(self, label: int) -> "GMM":
        """The class-conditional mixture p(x | c = label)."""
        if self.labels is None:
            raise ValueError("condition needs a GMM built with labels")
        check_int("label", label, lo=0, hi=self.num_classes - 1)
        keep = self.labels == label
        w = self.weights[keep]
        return GMM(w / w.sum(), self.means[keep], self.covs[keep], self.labels[keep])

    def class_probs(self) -> Tensor:
        """p(c), shape (num_classes,)."""
        if self.labels is None:
            raise ValueError("class_probs needs a GMM built with labels")
        return torch.zeros(self.num_classes, dtype=DTYPE, device=self.weights.device).index_add(0, self.labels, self.weights)


def official_gaussian() -> GMM:
    """The single Gaussian N(0, [[2,1],[1,2]]) of the official toys."""
    return GMM(torch.ones(1), torch.zeros(1, 2), torch.tensor([[[2.0, 1.0], [1.0, 2.0]]]))


def ring(k: int = 8, radius: float = 4.0, std: float = 0.3) -> GMM:
    """k equal Gaussians of std ``std`` evenly spaced on a circle of ``radius`` (the 8-ring)."""
    check_int("k", k, lo=1)
    radius = check_real("radius", radius, 0.0, math.inf)
    std = check_real("std", std, 0.0, math.inf, lo_open=True)
    angles = torch.arange(k, dtype=DTYPE) * (2 * math.pi / k)
    means = radius * torch.stack([torch.cos(angles), torch.sin(angles)], -1)
    covs = (std**2) * torch.eye(2, dtype=DTYPE).expand(k, 2, 2).clone()
    return GMM(torch.full((k,), 1.0 / k, dtype=DTYPE), means, covs)


def two_class(separation: float = 3.0, std: float = 1.0) -> GMM:
    """Two labelled Gaussians at (±separation/2, 0), for classifier-free guidance."""
    separation = check_real("separation", separation, 0.0, math.inf)
    std = check_real("std", std, 0.0, math.inf, lo_open=True)
    means = torch.tensor([[-separation / 2, 0.0], [separation / 2, 0.0]], dtype=DTYPE)
    covs = (std**2) * torch.eye(2, dtype=DTYPE).expand(2, 2, 2).clone()
    return GMM(torch.tensor([0.5, 0.5], dtype=DTYPE), means, covs, labels=torch.tensor([0, 1]))
