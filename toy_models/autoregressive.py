"""The official continuous AR toy: p(x₁) p(x₂ | x₁) with Gaussian conditionals.

x₁ ~ N(μ₁, σ₁²) with free (μ₁, log σ₁); (μ₂, log σ₂) = MLP(x₁) with MLP(1→64→64→2) and
log σ clamped to [−6, 3].  Loss = NLL (exact log-density available).

Temperature: both conventions are accepted through :class:`~neon_theory.samplers.Temperature`.
Sampling multiplies each conditional std by τ_σ (the official toy's convention); a density
temperature T is applied to each Gaussian conditional as τ_σ = √T.  Note that per-step
tempering of the conditionals is *not* the same as tempering the joint law p(x₁, x₂)^{1/T}
unless μ₂ and σ₂ do not depend on x₁.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from neon_theory.checks import check_draw, check_int, check_real, check_tensor
from neon_theory.qmc import normal_from_uniform
from neon_theory.rng import draw
from neon_theory.samplers import SamplerSpec, temperature_family, total_temperature

SAMPLERS = temperature_family("the continuous AR model")


def std_scale_of(sampler: SamplerSpec | None) -> float:
    """The factor on conditional stds (τ_σ = √T for a density temperature)."""
    return math.sqrt(total_temperature(sampler, SAMPLERS.family))


class ARGaussianNet(nn.Module):
    def __init__(self, hidden: int = 64, min_log_std: float = -6.0, max_log_std: float = 3.0):
        super().__init__()
        check_int("hidden", hidden, lo=1)
        self.min_log_std = check_real("min_log_std", min_log_std)
        self.max_log_std = check_real("max_log_std", max_log_std)
        if not self.min_log_std < self.max_log_std:
            raise ValueError("min_log_std must be below max_log_std")
        self.mu1 = nn.Parameter(torch.zeros(1))
        self.log_std1 = nn.Parameter(torch.zeros(1))
        self.head2 = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2))

    def conditionals(self, x1: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(μ₁, log σ₁, μ₂(x₁), log σ₂(x₁)), each of shape (n,)."""
        n = x1.shape[0]
        ls1 = self.log_std1.clamp(self.min_log_std, self.max_log_std).expand(n)
        mu2, ls2 = self.head2(x1[:, None]).unbind(-1)
        return self.mu1.expand(n), ls1, mu2, ls2.clamp(self.min_log_std, self.max_log_std)


def _gauss_nll(x: Tensor, mu: Tensor, log_std: Tensor) -> Tensor:
    return 0.5 * (((x - mu) / log_std.exp()) ** 2 + 2 * log_std + math.log(2 * math.pi))


class ARGaussianModel:
    """The official AR toy on the GenerativeModel contract.

    Args:
        module (ARGaussianNet | None): default a fresh float32 net with 64 hidden units.
    """

    def __init__(self, module: ARGaussianNet | None = None):
        self.module = ARGaussianNet() if module is None else module
        if not isinstance(self.module, ARGaussianNet):
            raise ValueError(f"module must be an ARGaussianNet; got {type(self.module).__name__}")

    @property
    def dtype(self) -> torch.dtype:
        return self.module.mu1.dtype

    def draw_noise(self, n: int, generator: torch.Generator):
        return None

    def per_example_loss(self, x: Tensor, noise=None) -> Tensor:
        """NLL, shape (n,). x (Tensor): shape (n, 2)."""
        check_tensor("x", x, shape=(None, 2), finite=False)
        x = x.to(self.module.mu1)  # θ's dtype and device
        mu1, ls1, mu2, ls2 = self.module.conditionals(x[:, 0])
        return _gauss_nll(x[:, 0], mu1, ls1) + _gauss_nll(x[:, 1], mu2, ls2)

    def log_prob(self, x: Tensor) -> Tensor:
        return -self.per_example_loss(x)

    def per_example_parameter_gradients(self, x: Tensor, noise=None) -> dict:
        """∂ℓ_i/∂μ₁ and ∂ℓ_i/∂log σ₁ per row, in closed form, shapes (n, 1) (the engine's
        Linear taps cover the conditional head; see
        :func:`~neon_theory.gradients.per_example_gradient_sums`).  ℓ₁ = ½z² + log σ₁ with
        z = (x₁ − μ₁)/σ₁, so ∂ℓ₁/∂μ₁ = −z/σ₁ and ∂ℓ₁/∂log σ₁ = 1 − z² (0 where the clamp binds)."""
        net = self.module
        with torch.no_grad():
            x1 = x.to(net.mu1)[:, 0]
            raw = net.log_std1
            inside = ((raw >= net.min_log_std) & (raw <= net.max_log_std)).to(x1)
            sigma = raw.clamp(net.min_log_std, net.max_log_std).exp()
            z = (x1 - net.mu1) / sigma
            return {"mu1": (-z / sigma)[:, None], "log_std1": ((1 - z * z) * inside)[:, None]}

    # -- randomised quasi-Monte Carlo (neon_theory.qmc) ---------------------------------------------
    def sample_uniform_dim(self, sampler: SamplerSpec | None) -> int:
        """Uniforms per draw of :meth:`sample_from_uniform`: 2 (one per coordinate)."""
        std_scale_of(sampler)  # validates the sampler
        return 2

    @torch.no_grad()
    def sample_from_uniform(self, u: Tensor, sampler: SamplerSpec | None) -> Tensor:
        """Draws of :meth:`sample` as a function of uniforms u, shape (n, 2): the standard normals
        of :meth:`sample` are Φ⁻¹(u)."""
        u = check_tensor("u", u, shape=(None, 2))
        return self._from_normals(normal_from_uniform(u).to(device=self.module.mu1.device, dtype=self.dtype), std_scale_of(sampler))

    @torch.no_grad()
    def sample(self, n: int, sampler: SamplerSpec | None, generator: torch.Generator) -> Tensor:
        """n draws, shape (n, 2) on θ's device, each conditional std multiplied by τ_σ."""
        check_draw(n, generator)
        tau = std_scale_of(sampler)
        return self._from_normals(draw(torch.randn, n, 2, generator=generator, dtype=self.dtype, device=self.module.mu1.device), tau)

    def _from_normals(self, z: Tensor, tau: float) -> Tensor:
        """x₁ = μ₁ + τσ₁z₁, x₂ = μ₂(x₁) + τσ₂(x₁)z₂ for standard normals z of shape (n, 2)."""
        n = z.shape[0]
        mu1, ls1, _, _ = self.module.conditionals(torch.zeros(n, dtype=self.dtype, device=z.device))
        x1 = mu1 + tau * ls1.exp() * z[:, 0]
        _, _, mu2, ls2 = self.module.conditionals(x1)
        return torch.stack([x1, mu2 + tau * ls2.exp() * z[:, 1]], -1)
