"""The exact Gaussian family: the oracle the engine is tested against (see ``docs/theory.md`` §4).

Data law N(μ*, Σ*) in ℝ^D; model N(μ, Σ) with θ = (μ, log diag L, strict lower L),
Σ = L Lᵀ (log-Cholesky, so every θ is a valid model and gradients are well defined);
loss = NLL; sampler = temperature, q = N(μ, T Σ) with T the density temperature
(T = τ_σ² for the std convention).

Because the NLL is quadratic in x, E_{N(m, C)}[ℓ_θ] has a closed form that is
differentiable in θ; its autograd gradient and Hessian give r_d, r_s, H_d, b and Δ
exactly (to float64 round-off).

Sign law (natural gradient P = F(θ_r)⁻¹, any D; derived in the module tests):
    s = ½ (1 − T) (D − tr(Σ_r⁻¹ (Σ* + δδᵀ))),  δ = μ* − μ_r.
So s < 0 iff the sampler sharpens (T < 1) and the model is too sharp on average
(tr(Σ_r⁻¹ S_d) > D), or the sampler diversifies and the model is too diffuse.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.autograd.functional import hessian as _autograd_hessian

from neon_theory.alignment import AlignmentReport, TheoryQuantities, alignment, theory_quantities
from neon_theory.checks import check_draw, check_int, check_spd, check_tensor
from neon_theory.metrics import gaussian_cross_entropy, gaussian_frechet_distance, sample_moments
from neon_theory.params import flatten, parameter_vector
from neon_theory.preconditioners import Preconditioner
from neon_theory.rng import draw
from neon_theory.samplers import SamplerSpec, temperature_family, total_temperature

DTYPE = torch.float64


#: Covariance eigenvalues and |mean| entries the exact closed forms compute with in float64
#: (their squares, inverses and products with a temperature stay finite).
COV_EIGENVALUE_RANGE = (1e-100, 1e100)
MEAN_ABS_MAX = 1e50
COV_CONDITION_MAX = 1e6


def _check_moments(mean: Tensor, cov: Tensor, name: str) -> tuple[Tensor, Tensor]:
    check_tensor(f"{name}_mean", mean, ndim=1)
    d = mean.shape[0]
    check_int(f"{name} dimension", d, lo=1)
    check_tensor(f"{name}_cov", cov, shape=(d, d))
    check_spd(f"{name}_cov", cov)
    if float(mean.abs().max()) > MEAN_ABS_MAX:
        raise ValueError(f"{name}_mean entries must lie in [-{MEAN_ABS_MAX:g}, {MEAN_ABS_MAX:g}]; got {float(mean.abs().max()):g}")
    eig = torch.linalg.eigvalsh(cov.to(DTYPE))
    lo, hi = COV_EIGENVALUE_RANGE
    if float(eig.min()) < lo or float(eig.max()) > hi:
        raise ValueError(f"{name}_cov eigenvalues must lie in [{lo:g}, {hi:g}]; got [{float(eig.min()):g}, {float(eig.max()):g}]")
    if float(eig.max() / eig.min()) > COV_CONDITION_MAX:  # its Fisher (condition ~ κ²) must stay invertible
        raise ValueError(f"{name}_cov condition number must lie in [1, {COV_CONDITION_MAX:g}]; got {float(eig.max() / eig.min()):g}")
    return mean.to(DTYPE), 0.5 * (cov.to(DTYPE) + cov.to(DTYPE).T)


def _cholesky(log_diag: Tensor, offdiag: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    L = torch.diag(torch.exp(log_diag))
    return L.index_put((rows, cols), offdiag) if rows.numel() else L


def _expected_nll(mu: Tensor, log_diag: Tensor, offdiag: Tensor, rows, cols, mean: Tensor, cov: Tensor) -> Tensor:
    """E_{N(mean, cov)}[−log N(x; mu, L Lᵀ)] as a pure function of the parameters."""
    L = _cholesky(log_diag, offdiag, rows, cols)
    delta = (mean - mu)[:, None]
    A = torch.linalg.solve_triangular(L, cov + delta @ delta.T, upper=False)
    quad = torch.trace(torch.linalg.solve_triangular(L, A.T, upper=False))
    return 0.5 * quad + log_diag.sum() + 0.5 * mu.shape[0] * math.log(2 * math.pi)


class GaussianParams(nn.Module):
    """θ = (mean, log_diag, offdiag) with Σ = L Lᵀ, L lower triangular with exp(log_diag) on the diagonal."""

    def __init__(self, mean: Tensor, cov: Tensor):
        super().__init__()
        mean, cov = _check_moments(mean, cov, "model")
        d = mean.shape[0]
        L = torch.linalg.cholesky(cov)
        rows, cols = torch.tril_indices(d, d, offset=-1, device=mean.device)
        self.register_buffer("_rows", rows, persistent=False)
        self.register_buffer("_cols", cols, persistent=False)
        self.mean = nn.Parameter(mean.clone())
        self.log_diag = nn.Parameter(torch.log(torch.diagonal(L)).clone())
        self.offdiag = nn.Parameter(L[rows, cols].clone())

    @property
    def dim(self) -> int:
        return self.mean.shape[0]

    def cholesky(self) -> Tensor:
        return _cholesky(self.log_diag, self.offdiag, self._rows, self._cols)

    def cov(self) -> Tensor:
        L = self.cholesky()
        return L @ L.T


class GaussianModel:
    """N(μ, Σ) generator implementing the :class:`~neon_theory.contracts.GenerativeModel` contract.

    Args:
        mean (Tensor): shape (D,).
        cov (Tensor): shape (D, D), symmetric positive definite.
    """

    def __init__(self, mean: Tensor, cov: Tensor):
        self.module = GaussianParams(mean, cov)

    # -- contract -------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return self.module.dim

    @property
    def mean(self) -> Tensor:
        return self.module.mean.detach().clone()

    @property
    def cov(self) -> Tensor:
        with torch.no_grad():
            return self.module.cov()

    def draw_noise(self, n: int, generator: torch.Generator):
        return None

    def per_example_loss(self, x: Tensor, noise=None) -> Tensor:
        """NLL, shape (n,). x (Tensor): shape (n, D)."""
        check_tensor("x", x, shape=(None, self.dim), finite=False)
        L = self.module.cholesky()
        diff = (x.to(self.module.mean) - self.module.mean).T  # float64 on θ's device
        z = torch.linalg.solve_triangular(L, diff, upper=False)
        return 0.5 * (z**2).sum(0) + self.module.log_diag.sum() + 0.5 * self.dim * math.log(2 * math.pi)

    def log_prob(self, x: Tensor) -> Tensor:
        return -self.per_example_loss(x)

    def sampler_law(self, sampler: SamplerSpec | None = None) -> tuple[Tensor, Tensor]:
        """Mean and covariance of q_{θ,κ}: N(μ, T Σ) with T the density temperature."""
        return self.mean, temperature_of(sampler) * self.cov

    @torch.no_grad()
    def sample(self, n: int, sampler: SamplerSpec | None, generator: torch.Generator) -> Tensor:
        """n draws from N(μ, T Σ), shape (n, D), float64 on θ's device."""
        check_draw(n, generator)
        scale = math.sqrt(temperature_of(sampler))
        z = draw(torch.randn, n, self.dim, generator=generator, dtype=DTYPE, device=self.module.mean.device)
        return self.module.mean + scale * z @ self.module.cholesky().T

    # -- closed forms ---------------------------------------------------------------------
    def expected_loss(self, mean: Tensor, cov: Tensor) -> Tensor:
        """E_{N(mean, cov)}[ℓ_θ], a scalar differentiable in θ (cov may be PSD)."""
        m = self.module
        return _expected_nll(m.mean, m.log_diag, m.offdiag, m._rows, m._cols, mean.to(m.mean), cov.to(m.mean))

    def exact_gradient(self, mean: Tensor, cov: Tensor) -> Tensor:
        """∇_θ E_{N(mean, cov)}[ℓ_θ], shape (p,), float64."""
        m = self.module
        params = [m.mean, m.log_diag, m.offdiag]
        g = torch.autograd.grad(self.expected_loss(mean, cov), params, allow_unused=True)
        return flatten(g, params)

    def exact_hessian(self, mean: Tensor, cov: Tensor) -> Tensor:
        """∇²_θ E_{N(mean, cov)}[ℓ_θ], shape (p, p), float64."""
        m, d = self.module, self.dim
        sizes = [d, d, d * (d - 1) // 2]
        mean, cov = mean.to(m.mean), cov.to(m.mean)  # float64 on θ's device

        def f(theta: Tensor) -> Tensor:
            mu, ld, off = torch.split(theta, sizes)
            return _expected_nll(mu, ld, off, m._rows, m._cols, mean, cov)

        H = _autograd_hessian(f, self.theta())
        return 0.5 * (H + H.T)

    def fisher(self) -> Tensor:
        """The Fisher information at θ, shape (p, p): E_{p_θ}[∇²ℓ_θ] for the NLL."""
        return self.exact_hessian(self.mean, self.cov)

    def theta(self) -> Tensor:
        """θ as a flat float64 vector, shape (p,)."""
        return parameter_vector(self.module)

    @classmethod
    def fit_mle(cls, x: Tensor) -> "GaussianModel":
        """The maximum-likelihood fit (biased covariance) to samples x of shape (n, D), n > D."""
        check_tensor("x", x, ndim=2)
        if x.shape[0] <= x.shape[1]:
            raise ValueError(f"fit_mle needs more samples than dimensions (n > D); got n={x.shape[0]}, D={x.shape[1]}")
        mean, cov = sample_moments(x)
        return cls(mean, cov * (x.shape[0] - 1) / x.shape[0])


def model_from_theta(theta: Tensor, dim: int) -> GaussianModel:
    """The :class:`GaussianModel` at log-Cholesky coordinates θ = (μ, log diag L, strict lower L).

    Args:
        theta (Tensor): shape (2·dim + dim(dim−1)/2,), finite.
        dim (int): D ≥ 1.
    """
    check_int("dim", dim, lo=1)
    sizes = [dim, dim, dim * (dim - 1) // 2]
    theta = check_tensor("theta", theta, shape=(sum(sizes),)).to(DTYPE)
    mu, log_diag, offdiag = torch.split(theta, sizes)
    rows, cols = torch.tril_indices(dim, dim, offset=-1, device=theta.device)
    L = _cholesky(log_diag, offdiag, rows, cols)
    model = GaussianModel(mu, L @ L.T)
    with torch.no_grad():  # set θ exactly (not through a Cholesky round trip)
        model.module.mean.copy_(mu)
        model.module.log_diag.copy_(log_diag)
        model.module.offdiag.copy_(offdiag)
    return model


SAMPLERS = temperature_family("the Gaussian family")


def temperature_of(sampler: SamplerSpec | None) -> float:
    """The density temperature T of a Gaussian-compatible sampler (``None`` → 1)."""
    return total_temperature(sampler, SAMPLERS.family)


class GaussianTarget:
    """The real data law N(μ*, Σ*).

    Args:
        mean (Tensor): shape (D,).
        cov (Tensor): shape (D, D), symmetric positive definite.
    """

    def __init__(self, mean: Tensor, cov: Tensor):
        self.mean, self.cov = _check_moments(mean, cov, "data")

    @property
    def dim(self) -> int:
        return self.mean.shape[0]

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        check_draw(n, generator)
        L = torch.linalg.cholesky(self.cov)
        return self.mean + draw(torch.randn, n, self.dim, generator=generator, dtype=DTYPE, device=self.mean.device) @ L.T

    def log_prob(self, x: Tensor) -> Tensor:
        return GaussianModel(self.mean, self.cov).log_prob(x)

    def as_model(self) -> GaussianModel:
        """The model at θ* (the truth is in the family)."""
        return GaussianModel(self.mean, self.cov)


@dataclass(frozen=True)
class GaussianOracle:
    """Exact theory quantities for (target, model θ_r, sampler).

    Attributes (all float64):
        theta_r, theta_star, eps (Tensor): shape (p,); ε = θ_r − θ*.
        r_d, r_s (Tensor): shape (p,), population gradients at θ_r.
        H_hat (Tensor): ∇²R_data(θ_r), shape (p, p).
        H_d (Tensor): ∇²R_data(θ*) = Fisher at θ*, shape (p, p).
        fisher_r (Tensor): Fisher at θ_r, shape (p, p).
        b (Tensor): E_q[∇ℓ_{θ*}], shape (p,).
        Delta (Tensor): E_q[∇²ℓ_{θ*}] − H_d, shape (p, p).
    """

    theta_r: Tensor
    theta_star: Tensor
    eps: Tensor
    r_d: Tensor
    r_s: Tensor
    H_hat: Tensor
    H_d: Tensor
    fisher_r: Tensor
    b: Tensor
    Delta: Tensor


def _check_pair(target: GaussianTarget, model: GaussianModel) -> None:
    if not isinstance(target, GaussianTarget):
        raise ValueError(f"target must be a GaussianTarget; got {type(target).__name__}")
    if not isinstance(model, GaussianModel):
        raise ValueError(f"model must be a GaussianModel; got {type(model).__name__}")
    if target.dim != model.dim:
        raise ValueError(f"target and model dimensions differ: {target.dim} vs {model.dim}")


def exact_quantities(target: GaussianTarget, model: GaussianModel, sampler: SamplerSpec | None = None) -> GaussianOracle:
    """All exact quantities of Theorem 1 and Lemma B.3 (ε, r_d, r_s, H_d, b, Δ, Ĥ) for the Gaussian family."""
    _check_pair(target, model)
    q_mean, q_cov = model.sampler_law(sampler)
    star = target.as_model()
    H_d = star.exact_hessian(target.mean, target.cov)
    oracle = GaussianOracle(
        theta_r=model.theta(),
        theta_star=star.theta(),
        eps=model.theta() - star.theta(),
        r_d=model.exact_gradient(target.mean, target.cov),
        r_s=model.exact_gradient(q_mean, q_cov),
        H_hat=model.exact_hessian(target.mean, target.cov),
        H_d=H_d,
        fisher_r=model.fisher(),
        b=star.exact_gradient(q_mean, q_cov),
        Delta=star.exact_hessian(q_mean, q_cov) - H_d,
    )
    bad = [f.name for f in dataclasses.fields(oracle) if not bool(torch.isfinite(getattr(oracle, f.name)).all())]
    if bad:  # each input is in range, but together they overflow float64 (e.g. a huge T on a huge Σ)
        raise ValueError(
            f"the exact Gaussian quantities overflow float64 ({', '.join(bad)}) for temperature T = {temperature_of(sampler):g} "
            f"with these means and covariances; use a temperature closer to 1 or moments closer to unit scale"
        )
    return oracle


def exact_alignment(
    target: GaussianTarget,
    model: GaussianModel,
    sampler: SamplerSpec | None,
    P: Preconditioner,
    *,
    alpha: float | None = None,
) -> AlignmentReport:
    """The exact :class:`AlignmentReport` (with Theorem 1 quantities) for the Gaussian family."""
    return oracle_alignment(exact_quantities(target, model, sampler), P, alpha=alpha)


def oracle_alignment(o: GaussianOracle, P: Preconditioner, *, alpha: float | None = None) -> AlignmentReport:
    """The :class:`AlignmentReport` of precomputed exact quantities (see :func:`exact_alignment`)."""
    th: TheoryQuantities = theory_quantities(o.eps, o.H_d, o.b, o.Delta, P)
    return alignment(o.r_d, o.r_s, P, alpha=alpha, hessian=o.H_hat, theory=th)


def n_parameters(dim: int) -> int:
    """p = 2D + D(D−1)/2, the size of θ = (μ, log diag L, strict lower L)."""
    check_int("dim", dim, lo=1)
    return 2 * dim + dim * (dim - 1) // 2


def alignment_cost(dim: int, mc: int = 0, batches: int = 0) -> tuple[float, float]:
    """Rough cost (seconds, bytes) of an alignment report on the Gaussian family.

    The exact quantities take ~3e-4·p^1.5 s and ~7e3·p^1.5 bytes (autograd Hessians,
    p = :func:`n_parameters`), fitted to D = 20, 40, 60 on a 2-core CPU; a Monte Carlo
    estimate adds ~3e-8·mc·(p + 20) s and streams in chunks (memory does not grow with mc),
    and each of its ``batches`` adds ~1 ms and ~16·p bytes (batch sums and the jackknife).
    Good to a factor of ~2: enough to warn before a request that would run for hours.
    """
    p = n_parameters(dim)
    check_int("mc", mc, lo=0)
    check_int("batches", batches, lo=0)
    return 3e-4 * p**1.5 + 3e-8 * mc * (p + 20) + 1e-3 * batches, 7e3 * p**1.5 + 16.0 * batches * p


def natural_gradient_s(target: GaussianTarget, model: GaussianModel, sampler: SamplerSpec | None) -> float:
    """The sign-law closed form s = ½(1 − T)(D − tr(Σ_r⁻¹(Σ* + δδᵀ))) for P = F(θ_r)⁻¹."""
    _check_pair(target, model)
    T = temperature_of(sampler)
    delta = (target.mean - model.mean)[:, None]
    S_d = target.cov + delta @ delta.T
    return 0.5 * (1 - T) * (model.dim - float(torch.trace(torch.linalg.solve(model.cov, S_d))))


def population_nll(target: GaussianTarget, model: GaussianModel) -> float:
    """R_data(θ) = E_{p_data}[−log p_θ], exact."""
    _check_pair(target, model)
    return gaussian_cross_entropy(target.mean, target.cov, model.mean, model.cov)


def frechet_to_target(target: GaussianTarget, model: GaussianModel, sampler: SamplerSpec | None = None) -> float:
    """Exact FD between q_{θ,κ} and the data law (no sampling)."""
    _check_pair(target, model)
    m, c = model.sampler_law(sampler)
    return gaussian_frechet_distance(m, c, target.mean, target.cov)
