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


# -- the conditional (Rao–Blackwellised) P-cosine (neon_theory.conditional) -----------------------------
class GaussianConditionalRows:
    """Outer rows (x₁, m, c) of a law with x₂ | x₁ ~ N(m(x₁), c(x₁)²): x₁ = loc + scale·z and
    (m, c) = ``inner(x₁)``, for :func:`~neon_theory.conditional.exact_conditional_probe`.  Use
    :func:`target_rows` (a bivariate Gaussian) or :func:`model_rows` (the model at τ)."""

    def __init__(self, loc: Tensor, scale: Tensor, inner):
        self.loc, self.scale, self.inner = loc, scale, inner

    def uniform_dim(self) -> int:
        return 1

    @torch.no_grad()
    def sample_from_uniform(self, u: Tensor) -> Tensor:
        """Rows (x₁, m, c), shape (n, 3), float64 on the CPU."""
        u = check_tensor("u", u, shape=(None, 1))
        return self._rows(normal_from_uniform(u.double())[:, 0])

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        check_draw(n, generator)
        return self._rows(draw(torch.randn, n, generator=generator, dtype=torch.float64))

    def _rows(self, z: Tensor) -> Tensor:
        x1 = self.loc + self.scale * z
        m, c = self.inner(x1)
        return torch.stack([x1, m, c], -1)


def target_rows(mean: Tensor, cov: Tensor) -> GaussianConditionalRows:
    """The outer rows of the bivariate Gaussian N(mean, cov): x₂ | x₁ ~ N(m₂ + c₁₂/c₁₁ (x₁ − m₁), c₂₂ − c₁₂²/c₁₁)."""
    mean, cov = check_tensor("mean", mean, shape=(2,)).double().cpu(), check_tensor("cov", cov, shape=(2, 2)).double().cpu()
    slope = cov[0, 1] / cov[0, 0]
    inner_std = (cov[1, 1] - slope * cov[0, 1]).clamp_min(0).sqrt()
    return GaussianConditionalRows(mean[0], cov[0, 0].sqrt(), lambda x1: (mean[1] + slope * (x1 - mean[0]), inner_std.expand_as(x1)))


def model_rows(model: "ARGaussianModel", sampler: SamplerSpec | None) -> GaussianConditionalRows:
    """The outer rows of the model's sampling law: x₁ ~ N(μ₁, (τσ₁)²), x₂ | x₁ ~ N(μ₂(x₁), (τσ₂(x₁))²), θ frozen at its current value."""
    tau = std_scale_of(sampler)
    net = model.module

    @torch.no_grad()
    def inner(x1):
        _, _, mu2, ls2 = net.conditionals(x1.to(net.mu1))
        return mu2.double().cpu(), tau * ls2.double().cpu().exp()

    with torch.no_grad():
        mu1, ls1, _, _ = net.conditionals(torch.zeros(1, dtype=model.dtype, device=net.mu1.device))
    return GaussianConditionalRows(mu1.double().cpu()[0], tau * ls1.double().cpu().exp()[0], inner)


class ARConditionalLoss:
    """The AR toy's NLL integrated over x₂ | x₁ (:class:`~neon_theory.conditional.ConditionalLoss`).

    On a row (x₁, m, c) with x₂ | x₁ ~ N(m, c²): E[ℓ | x₁] = ℓ₁(x₁) + ½((m − μ₂)² + c²)/σ₂² + log σ₂ + ½ log 2π.
    Given x₁, ∂ℓ/∂(μ₂, log σ₂) = (−e/σ₂², 1 − e²/σ₂²) with e = x₂ − μ₂ ~ N(d, c²), d = m − μ₂; its
    covariance is [[c², 2dc²], [2dc², 4d²c² + 2c⁴]]/σ₂⁴, whose Cholesky factor has columns
    (c, 2dc)/σ₂² and (0, √2 c²)/σ₂²: the two variance pseudo-losses.  (μ₁, log σ₁) enter only
    through x₁, so their gradient has no conditional variance.
    """

    outer_parameters = ("mu1", "log_std1")

    def __init__(self, model: "ARGaussianModel"):
        self.model, self.module = model, model.module

    def _outputs(self, rows: Tensor):
        rows = check_tensor("rows", rows, shape=(None, 3), finite=False).to(self.module.mu1)
        x1, m, c = rows.unbind(-1)
        return (x1, m, c, *self.module.conditionals(x1))

    def per_example_loss(self, rows: Tensor, noise=None) -> Tensor:
        x1, m, c, mu1, ls1, mu2, ls2 = self._outputs(rows)
        return _gauss_nll(x1, mu1, ls1) + 0.5 * ((m - mu2) ** 2 + c * c) / (2 * ls2).exp() + ls2 + 0.5 * math.log(2 * math.pi)

    def variance_losses(self, rows: Tensor) -> Tensor:
        _, m, c, _, _, mu2, ls2 = self._outputs(rows)
        var = (2 * ls2).exp().detach()
        d = (m - mu2).detach()
        return torch.stack([(c * mu2 + 2 * d * c * ls2) / var, math.sqrt(2) * c * c * ls2 / var], -1)

    def per_example_parameter_gradients(self, rows: Tensor, noise=None) -> dict:
        return self.model.per_example_parameter_gradients(rows, noise)


def _crossings(f, points: Tensor, levels) -> Tensor:
    """Where the continuous piecewise-linear f, linear between consecutive ``points``, crosses ``levels``:
    f is evaluated at the points only (exact inside each interval)."""
    values = f(points)  # (m, L): one column per level set
    a, b, fa, fb = points[:-1, None], points[1:, None], values[:-1] - levels, values[1:] - levels
    cross = (fa * fb < 0)
    return (a - fa * (b - a) / (fb - fa).where(cross, torch.ones_like(fa)))[cross]


@torch.no_grad()
def x1_kinks(net: ARGaussianNet, lo: float, hi: float) -> Tensor:
    """Every x₁ in (lo, hi) where the head's output is not smooth, sorted (float64): the kinks of
    the first and second ReLU layers and where log σ₂ meets its clamp.  Between two of them,
    μ₂ and log σ₂ are linear in x₁."""
    first, second, last = net.head2[0], net.head2[2], net.head2[4]
    w, b = first.weight[:, 0].double().cpu(), first.bias.double().cpu()
    inner = -b[w != 0] / w[w != 0]
    points = torch.cat([torch.tensor([lo, hi], dtype=torch.float64, device="cpu"), inner[(inner > lo) & (inner < hi)]]).sort().values

    def hidden1(x):
        return torch.relu(x[:, None] * w + b)

    def pre2(x):
        return hidden1(x) @ second.weight.double().cpu().T + second.bias.double().cpu()

    points = torch.cat([points, _crossings(pre2, points, torch.zeros(1, dtype=torch.float64, device="cpu"))]).sort().values

    def log_std2(x):
        return (torch.relu(pre2(x)) @ last.weight.double().cpu().T + last.bias.double().cpu())[:, 1:].expand(-1, 2)

    clamps = torch.tensor([net.min_log_std, net.max_log_std], dtype=torch.float64, device="cpu")
    return torch.cat([points, _crossings(log_std2, points, clamps)]).sort().values[1:-1].unique()


@torch.no_grad()
def quadrature(law: GaussianConditionalRows, net: ARGaussianNet, *, nodes: int = 16, panel: float = 0.25, span: float = 12.0):
    """The outer law as a quadrature: Gauss–Legendre rules of ``nodes`` points on panels at most
    ``panel``·scale wide, split at every kink of ``net`` (:func:`x1_kinks`), over loc ± ``span``·scale;
    weights = rule weight × N(x₁; loc, scale²) (renormalised: the mass outside is below 1e-31).

    Returns:
        :class:`~neon_theory.gradients.WeightedSupport` of rows (x₁, m, c).
    """
    import numpy as np

    from neon_theory.gradients import WeightedSupport

    check_int("nodes", nodes, lo=2)
    panel, span = check_real("panel", panel, 0.0, math.inf, lo_open=True), check_real("span", span, 1.0, math.inf)
    loc, scale = float(law.loc), float(law.scale)
    lo, hi = loc - span * scale, loc + span * scale
    cpu = {"dtype": torch.float64, "device": "cpu"}  # the rule is built on the CPU; the engine moves its rows to θ's device
    breaks = torch.cat([torch.tensor([lo], **cpu), x1_kinks(net, lo, hi), torch.tensor([hi], **cpu)])
    pieces = [torch.linspace(float(a), float(b), max(math.ceil((b - a) / (panel * scale)), 1) + 1, **cpu) for a, b in zip(breaks[:-1], breaks[1:])]
    a = torch.cat([p[:-1] for p in pieces])
    b = torch.cat([p[1:] for p in pieces])
    t, wt = (torch.as_tensor(v, **cpu) for v in np.polynomial.legendre.leggauss(nodes))
    x = ((a + b)[:, None] + (b - a)[:, None] * t) / 2
    weight = (b - a)[:, None] / 2 * wt * torch.exp(-0.5 * ((x - loc) / scale) ** 2) / (scale * math.sqrt(2 * math.pi))
    x, weight = x.reshape(-1), weight.reshape(-1)
    m, c = law.inner(x)
    return WeightedSupport(torch.stack([x, m, c], -1), weight / weight.sum())
