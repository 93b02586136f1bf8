"""A learnable Gaussian mixture: the exact 2-D testbed of Neon's neighbours (exact log-density and score).

Model: p_θ(x) = Σ_k π_k N(x; μ_k, L_k L_kᵀ) in ℝ^D with θ = (mixture logits, means, log diag L_k,
strict lower L_k): every θ is a valid mixture and the NLL is differentiable.  Loss = NLL.

Sampler: ``std-temperature=τ`` (:class:`~neon_theory.samplers.Temperature`, std convention) scales
every component's standard deviation by τ and keeps the weights: τ < 1 is mode-seeking (each mode
sharper), τ > 1 diversity-seeking.  Its law is again a mixture (:meth:`MixtureModel.sampler_law`),
so the sampler has an exact density and an exact score at every VP noise level too
(:meth:`toy_models.gmm.GMM.noised_vp`), which drives the same DDIM samplers as the diffusion toy
(:class:`toy_models.diffusion.ExactScoreDiffusion`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from neon_theory.checks import check_draw, check_int, check_real, check_tensor
from neon_theory.rng import draw
from neon_theory.samplers import SamplerSpec, Temperature

from .gmm import GMM

DTYPE = torch.float64


class MixtureParams(nn.Module):
    """θ of a K-component mixture in ℝ^D: logits (K,), means (K, D), log diag L (K, D), strict lower L (K, D(D−1)/2)."""

    def __init__(self, weights: Tensor, means: Tensor, covs: Tensor):
        super().__init__()
        chol = torch.linalg.cholesky(covs.to(DTYPE))
        K, D = means.shape
        rows, cols = torch.tril_indices(D, D, offset=-1)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)
        self.logits = nn.Parameter(torch.log(weights.to(DTYPE)))
        self.means = nn.Parameter(means.to(DTYPE).clone())
        self.log_diag = nn.Parameter(torch.log(torch.diagonal(chol, dim1=1, dim2=2)).clone())
        self.offdiag = nn.Parameter(chol[:, rows, cols].clone())

    def cholesky(self) -> Tensor:
        """L_k, shape (K, D, D), lower triangular with a positive diagonal."""
        K, D = self.means.shape
        L = torch.diag_embed(torch.exp(self.log_diag))
        return L.index_put((torch.arange(K)[:, None], self.rows[None], self.cols[None]), self.offdiag, accumulate=True)


class MixtureModel:
    """A learnable Gaussian mixture on the :class:`~neon_theory.contracts.GenerativeModel` contract.

    Args:
        weights (Tensor): shape (K,), positive, summing to 1.
        means (Tensor): shape (K, D).
        covs (Tensor): shape (K, D, D), each symmetric positive definite.
    """

    def __init__(self, weights: Tensor, means: Tensor, covs: Tensor):
        GMM(weights, means, covs)  # the checks: shapes, positive weights summing to 1, SPD covariances
        self.module = MixtureParams(weights, means, covs)

    @property
    def dim(self) -> int:
        return self.module.means.shape[1]

    @property
    def n_components(self) -> int:
        return self.module.means.shape[0]

    def _distribution(self) -> torch.distributions.MixtureSameFamily:
        m = self.module
        return torch.distributions.MixtureSameFamily(
            torch.distributions.Categorical(logits=m.logits),
            torch.distributions.MultivariateNormal(m.means, scale_tril=m.cholesky(), validate_args=False),
            validate_args=False,
        )

    def log_prob(self, x: Tensor) -> Tensor:
        """log p_θ(x), shape (n,), differentiable in θ."""
        check_tensor("x", x, shape=(None, self.dim), finite=False)
        return self._distribution().log_prob(x.to(DTYPE))

    def draw_noise(self, n: int, generator: torch.Generator):
        return None  # an NLL model: no randomness inside the loss

    def per_example_loss(self, x: Tensor, noise=None) -> Tensor:
        """ℓ_θ(x) = −log p_θ(x), shape (n,)."""
        return -self.log_prob(x)

    @torch.no_grad()
    def gmm(self, tau: float = 1.0) -> GMM:
        """The mixture at θ (detached), each component's covariance × τ² (the std-temperature sampler's law)."""
        tau = check_real("tau", tau, 0.0, math.inf, lo_open=True)
        m = self.module
        L = m.cholesky()
        return GMM(torch.softmax(m.logits, 0), m.means.detach().clone(), tau**2 * L @ L.transpose(1, 2))

    def sampler_law(self, sampler: SamplerSpec | None = None) -> GMM:
        """q_{θ,κ}: the mixture with every component's std × τ (``None``: τ = 1, the model's own law)."""
        return self.gmm(std_temperature(sampler))

    @torch.no_grad()
    def sample(self, n: int, sampler: SamplerSpec | None, generator: torch.Generator) -> Tensor:
        """n draws of q_{θ,κ}, shape (n, D), float64."""
        check_draw(n, generator)
        return self.sampler_law(sampler).sample(n, generator)

    def sample_uniform_dim(self, sampler: SamplerSpec | None) -> int:
        return self.sampler_law(sampler).uniform_dim()

    @torch.no_grad()
    def sample_from_uniform(self, u: Tensor, sampler: SamplerSpec | None) -> Tensor:
        """Draws of :meth:`sample` as a function of uniforms (randomised QMC, :mod:`neon_theory.qmc`)."""
        return self.sampler_law(sampler).sample_from_uniform(u)

    @classmethod
    def initial(cls, data: Tensor, n_components: int, generator: torch.Generator, *, init_std: float = 1.0) -> "MixtureModel":
        """A starting point for fitting: equal weights, means at ``n_components`` distinct rows of ``data``
        drawn on ``generator``, isotropic covariances init_std² · I."""
        check_tensor("data", data, ndim=2)
        K = check_int("n_components", n_components, lo=1, hi=data.shape[0])
        init_std = check_real("init_std", init_std, 0.0, math.inf, lo_open=True)
        rows = draw(torch.randperm, data.shape[0], generator=generator, device="cpu")[:K]
        D = data.shape[1]
        return cls(torch.full((K,), 1.0 / K, dtype=DTYPE), data[rows].to(DTYPE), init_std**2 * torch.eye(D, dtype=DTYPE).expand(K, D, D).clone())


def std_temperature(sampler: SamplerSpec | None) -> float:
    """τ of a ``std-temperature=τ`` sampler (1 for ``None``); any other spec is refused with one line."""
    if sampler is None:
        return 1.0
    if not isinstance(sampler, Temperature) or sampler.convention != "std":
        raise ValueError(f"sampler must be std-temperature=TAU (each component's std x TAU) or None for a MixtureModel; got {sampler!r}")
    return float(sampler.value)


__all__ = ["MixtureModel", "MixtureParams", "std_temperature"]
