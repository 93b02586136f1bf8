"""MLP diffusion (ε-prediction) on the GenerativeModel contract, and an exact-score twin.

Training: x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε with t uniform on {0..T−1}; loss = mean over
dimensions of (ε̂(x_t, t/(T−1)) − ε)².  The loss noise (t, ε[, label drop]) is drawn by
``draw_noise`` so real and synthetic gradients can share it.

Sampling (one code path for the MLP and for the exact GMM score):

* ``Steps(n, "ddim", eta)`` — DDIM(η) on n grid points; the last step returns x̂₀
  (η = 1 is ancestral DDPM sampling on that grid; ``"ddpm"`` is a synonym for η = 1).
* ``Steps(n, "euler" | "heun" | "midpoint")`` — the probability-flow ODE in EDM form,
  y = x/√ᾱ, σ = √((1−ᾱ)/ᾱ), dy/dσ = ε̂, on an EDM ρ = 7 grid of n noise levels, ending
  with x̂₀ = y − σ ε̂ (a uniform grid in t makes the first σ-step so large that Heun and
  midpoint diverge).
* ``ScoreScale(ζ, where)`` — the score −ε̂/√(1−ᾱ) is multiplied by ζ; ``where="x0"``
  (the official toy) scales it only inside x̂₀ and keeps the unscaled ε̂ in the direction
  term, ``where="update"`` scales both.  For the ODE solvers the two coincide.
* ``Guidance(γ)`` — classifier-free guidance ε̂_u + γ(ε̂_c − ε̂_u) for class-conditional
  models (γ = 1 is the conditional model).

Grids: ``grid="subsample"`` places the n points evenly on the training index 0..T−1;
``grid="own"`` builds a fresh schedule of length n (the official toy's "cosine schedule
of length 20"), with network time input i/(n−1).

Conditional data are stored as one tensor of shape (n, D + 1) whose last column is the
integer class label.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from neon_theory.checks import check_choice, check_draw, check_int, check_real, check_tensor
from neon_theory.qmc import normal_from_uniform
from neon_theory.rng import draw
from neon_theory.samplers import Guidance, SamplerSpec, ScoreScale, Steps, implementations

from ._conditional import ConditionalGenerator, TimeNet, in_row_chunks
from .gmm import GMM


class Schedule:
    """ᾱ_t on the grid t = 0..T−1, with linear interpolation of log ᾱ between grid points.

    Args:
        kind (str): ``"cosine"`` or ``"linear"`` (β from beta_start to beta_end).
        T (int): number of steps, in [2, inf).
        device: where ᾱ lives (default: the default device).

    The cosine schedule follows the official toy: ᾱ_t = f(t)/f(0) for t = 0..T−1 with
    f(t) = cos²((t/T + s)/(1 + s)·π/2), so ᾱ_0 = 1 (no noise at t = 0) and no β clipping.
    """

    def __init__(self, kind: str = "cosine", T: int = 1000, *, s: float = 0.008, beta_start: float = 1e-4, beta_end: float = 0.02, device=None):
        self.kind = check_choice("kind", kind, ("cosine", "linear"))
        self.T = check_int("T", T, lo=2)
        if kind == "cosine":
            s = check_real("s", s, 0.0, math.inf)
            f = torch.cos(((torch.arange(T, dtype=torch.float64, device=device) / T) + s) / (1 + s) * math.pi / 2) ** 2
            self.alpha_bar = f / f[0]
        else:
            b0 = check_real("beta_start", beta_start, 0.0, 1.0, lo_open=True, hi_open=True)
            b1 = check_real("beta_end", beta_end, 0.0, 1.0, lo_open=True, hi_open=True)
            self.alpha_bar = torch.cumprod(1 - torch.linspace(b0, b1, T, dtype=torch.float64, device=device), 0)

    def at(self, u) -> Tensor:
        """ᾱ at fractional indices u in [0, T−1] (tensor or float)."""
        u = torch.as_tensor(u, dtype=torch.float64, device=self.alpha_bar.device).clamp(0, self.T - 1)
        lo = u.floor().long().clamp(max=self.T - 2)
        frac = u - lo
        log_ab = torch.log(self.alpha_bar)
        return torch.exp((1 - frac) * log_ab[lo] + frac * log_ab[lo + 1])

    def index_of(self, alpha_bar) -> Tensor:
        """The fractional index u with ``at(u) = alpha_bar`` (inverse of :meth:`at`)."""
        target = -torch.log(torch.as_tensor(alpha_bar, dtype=torch.float64, device=self.alpha_bar.device))
        grid = -torch.log(self.alpha_bar)  # increasing in u
        hi = torch.searchsorted(grid, target.clamp(float(grid[0]), float(grid[-1]))).clamp(1, self.T - 1)
        lo = hi - 1
        frac = (target - grid[lo]) / (grid[hi] - grid[lo]).clamp_min(1e-300)
        return (lo + frac.clamp(0, 1)).to(torch.float64)

    def time_input(self, u) -> Tensor:
        """The network's time input u/(T−1)."""
        return torch.as_tensor(u, dtype=torch.float64, device=self.alpha_bar.device) / (self.T - 1)


class DiffusionSettings(NamedTuple):
    """What a diffusion sampler spec sets; ``None`` keeps the model's default."""

    steps: Steps | None = None
    zeta: ScoreScale | None = None
    guidance: Guidance | None = None


SAMPLERS = implementations("diffusion sampling")
SAMPLERS.register(Steps)(lambda s, settings: settings._replace(steps=s))
SAMPLERS.register(ScoreScale)(lambda s, settings: settings._replace(zeta=s))
SAMPLERS.register(Guidance)(lambda s, settings: settings._replace(guidance=s))


def parse_diffusion_sampler(sampler: SamplerSpec | None) -> DiffusionSettings:
    """Split a spec into its Steps, ScoreScale and Guidance parts (any other non-neutral spec is rejected)."""
    return SAMPLERS.apply(sampler, DiffusionSettings())


class DiffusionSampler:
    """Samplers shared by the MLP and the exact-score model; subclasses provide ``eps``."""

    dim: int
    num_classes: int
    schedule: Schedule
    grid: str
    device: torch.device  # where samples are drawn
    #: (lo, hi): DDIM clips its x̂₀ estimate to the data range (diffusers' ``clip_sample``); None: no clipping
    x0_range: tuple | None = None

    def eps(self, x: Tensor, alpha_bar: float, time_input: float, labels: Tensor | None) -> Tensor:
        """ε̂(x) at one noise level. x (Tensor): shape (n, D); labels: (n,) with −1 = unconditional."""
        raise NotImplementedError

    def _grid(self, n_steps: int) -> tuple[Schedule, Tensor]:
        """(schedule, u) with u decreasing from the noisiest grid point to index 0."""
        device = self.schedule.alpha_bar.device
        if self.grid == "own":
            sched = Schedule(self.schedule.kind, max(n_steps, 2), device=device)
            return sched, torch.arange(n_steps - 1, -1, -1, dtype=torch.float64, device=device) * (sched.T - 1) / max(n_steps - 1, 1)
        return self.schedule, torch.linspace(self.schedule.T - 1, 0, n_steps, dtype=torch.float64, device=device)

    @staticmethod
    def _steps(sampler: SamplerSpec | None) -> tuple:
        """(Steps, ScoreScale | None, Guidance | None), the default Steps being T-step DDPM-like DDIM (η = 1)."""
        steps, zeta, guidance = parse_diffusion_sampler(sampler)
        return (steps if steps is not None and steps.n is not None else None), zeta, guidance

    def deterministic(self, sampler: SamplerSpec | None) -> bool:
        """Whether the sampler is a deterministic map of the initial noise (DDIM with η = 0, or an ODE solver)."""
        steps = self._steps(sampler)[0]
        return steps is not None and (steps.solver not in ("ddim", "ddpm") or (steps.solver == "ddim" and steps.eta == 0))

    @torch.no_grad()
    def sample_x(
        self, n: int, sampler: SamplerSpec | None, generator: torch.Generator | None, labels: Tensor | None = None, dtype=torch.float64,
        x_init: Tensor | None = None,
    ) -> Tensor:
        """n draws in data space, shape (n, D).  ``labels`` (n,) are the classes for guidance.

        ``x_init`` (n, D): the initial noise instead of a draw from ``generator`` (which a
        deterministic sampler then does not need)."""
        steps, zeta, guidance = self._steps(sampler)
        if x_init is None or not self.deterministic(sampler):
            check_draw(n, generator)
        if steps is None:
            steps = Steps(self.schedule.T, "ddim", eta=1.0)
        if guidance is not None and labels is None:
            raise ValueError("Guidance needs a class-conditional model")
        z = zeta.zeta if zeta is not None else 1.0
        where = zeta.where if zeta is not None else "x0"
        gamma = guidance.gamma if guidance is not None else None

        def guided(x, lab, ab, ti):
            if lab is None:
                return self.eps(x, ab, ti, None)
            e_c = self.eps(x, ab, ti, lab)
            if gamma is None:
                return e_c
            e_u = self.eps(x, ab, ti, torch.full_like(lab, -1))
            return e_u + gamma * (e_c - e_u)

        def eps_fn(x, ab, ti):
            return in_row_chunks(lambda xc, lc: guided(xc, lc, ab, ti), x, labels)

        if x_init is None:
            x = draw(torch.randn, n, self.dim, generator=generator, dtype=dtype, device=self.device)
        else:
            x = check_tensor("x_init", x_init, shape=(n, self.dim)).to(device=self.device, dtype=dtype)
        if steps.solver in ("ddim", "ddpm"):
            eta = 1.0 if steps.solver == "ddpm" else steps.eta
            sched, u = self._grid(steps.n)
            return _ddim(eps_fn, x, sched, u, eta, z, where, generator, self.x0_range)
        return _ode(eps_fn, x, self.schedule, steps.n, steps.solver, z)


    # -- randomised quasi-Monte Carlo (neon_theory.qmc) ------------------------------------------
    def attach(self, x: Tensor, labels: Tensor | None) -> Tensor:
        """The draws as :meth:`sample` returns them (a class-conditional :class:`DiffusionModel` appends the label column)."""
        return x

    def sample_uniform_dim(self, sampler: SamplerSpec | None) -> int:
        """Uniforms per draw of :meth:`sample_from_uniform` (a deterministic sampler only): D (+ 1 for the label)."""
        if not self.deterministic(sampler):
            raise ValueError(f"sampling from uniforms needs a deterministic sampler (Steps(n, 'ddim', eta=0) or an ODE solver); got {sampler!r}")
        return self.dim + (1 if self.num_classes else 0)

    @torch.no_grad()
    def sample_from_uniform(self, u: Tensor, sampler: SamplerSpec | None) -> Tensor:
        """Draws of :meth:`sample` as a function of uniforms u, shape (n, sample_uniform_dim(sampler)):
        the initial noise is Φ⁻¹(u) (and the label the class-law quantile of the last column)."""
        u = check_tensor("u", u, shape=(None, self.sample_uniform_dim(sampler)))  # computed where u lives (float64), then moved
        dtype = getattr(self, "dtype", torch.float64)
        labels = None
        if self.num_classes:
            cdf = torch.cumsum(self.class_probs.to(u), 0)
            labels = torch.searchsorted(cdf, u[:, -1].contiguous()).clamp(max=self.num_classes - 1).to(self.device)
        x_init = normal_from_uniform(u[:, : self.dim]).to(device=self.device, dtype=dtype)
        return self.attach(self.sample_x(u.shape[0], sampler, None, labels, dtype=dtype, x_init=x_init), labels)


def _ddim(eps_fn, x, sched: Schedule, u: Tensor, eta: float, zeta: float, where: str, generator, x0_range=None) -> Tensor:
    abs_ = sched.at(u)
    for i in range(len(u)):
        ab = float(abs_[i])
        e = eps_fn(x, ab, float(sched.time_input(u[i])))
        x0 = (x - math.sqrt(1 - ab) * zeta * e) / math.sqrt(ab)
        if x0_range is not None:  # at ᾱ near 0 the division amplifies the error of ε̂ by 1/√ᾱ (hundreds of times)
            x0 = x0.clamp(*x0_range)
        if i == len(u) - 1:
            return x0
        ab_prev = float(abs_[i + 1])
        sigma = eta * math.sqrt((1 - ab_prev) / (1 - ab)) * math.sqrt(max(1 - ab / ab_prev, 0.0))
        direction = e if where == "x0" else zeta * e
        noise = draw(torch.randn, x.shape, generator=generator, dtype=x.dtype, device=x.device) if sigma > 0 else 0.0
        x = math.sqrt(ab_prev) * x0 + math.sqrt(max(1 - ab_prev - sigma**2, 0.0)) * direction + sigma * noise
    return x


def karras_sigmas(sigma_max: float, sigma_min: float, n: int, rho: float = 7.0, device=None) -> Tensor:
    """n noise levels from sigma_max down to sigma_min, spaced uniformly in σ^{1/ρ} (EDM), shape (n,), on ``device``."""
    i = torch.arange(n, dtype=torch.float64, device=device) / max(n - 1, 1)
    return (sigma_max ** (1 / rho) + i * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho


def _ode(eps_fn, x, sched: Schedule, n: int, solver: str, zeta: float) -> Tensor:
    """Probability-flow ODE dy/dσ = ζ ε̂ with y = x/√ᾱ on an EDM (ρ = 7) σ-grid, then x̂₀ = y − σ ε̂.

    The grid runs from the schedule's largest σ to its smallest positive σ; the final
    x̂₀ readout is the step to σ = 0.  n counts grid points (network evaluations for Euler).
    """
    sig = torch.sqrt((1 - sched.alpha_bar) / sched.alpha_bar)
    positive = sig[sig > 0]
    sigmas = karras_sigmas(float(sig.max()), float(positive.min()), n, device=sig.device)

    def d(y, sigma):
        ab = 1.0 / (1.0 + float(sigma) ** 2)
        u = sched.index_of(ab)
        return zeta * eps_fn(math.sqrt(ab) * y, ab, float(sched.time_input(u)))

    y = x * math.sqrt(1.0 + float(sigmas[0]) ** 2)  # x_T ~ N(0, I) at ᾱ = 1/(1 + σ_max²)
    for i in range(n - 1):
        s0, s1 = float(sigmas[i]), float(sigmas[i + 1])
        d0 = d(y, s0)
        if solver == "euler":
            y = y + (s1 - s0) * d0
        elif solver == "heun":
            d1 = d(y + (s1 - s0) * d0, s1)
            y = y + (s1 - s0) * 0.5 * (d0 + d1)
        else:  # midpoint
            sm = math.sqrt(s0 * s1)
            y = y + (s1 - s0) * d(y + (sm - s0) * d0, sm)
    s_last = float(sigmas[-1])
    return y - s_last * d(y, s_last)


class DiffusionModel(ConditionalGenerator, DiffusionSampler):
    """Diffusion on the GenerativeModel contract (an MLP on vectors, or a UNet on flattened images).

    Args:
        module (TimeNet): the network (holds θ): a TimeMLP, or the image TimeUNet.
        schedule (Schedule): the training schedule.
        grid (str): DDIM sampling grid, ``"subsample"`` or ``"own"`` (see module docstring).
        p_uncond (float): label-drop probability in [0, 1) for conditional training.
        class_probs (Tensor | None): shape (num_classes,), law of the labels attached to samples
            (default uniform).
        prediction (str): what the network predicts: ``"eps"`` (ε, the loss is the mean of
            (ε̂ − ε)²) or ``"v"`` (v = √ᾱ ε − √(1−ᾱ) x₀, the loss is the mean of (v̂ − v)²).
            Samplers always use ε̂; from v̂ it is ε̂ = √(1−ᾱ) x_t + √ᾱ v̂.
        x0_range (tuple | None): (lo, hi) with lo < hi, the data range DDIM clips its x̂₀ estimate
            to (images: (−1, 1), as diffusers' ``clip_sample``); None (default): no clipping.
    """

    def __init__(
        self, module: TimeNet, schedule: Schedule | None = None, *, grid: str = "subsample", p_uncond: float = 0.1,
        class_probs: Tensor | None = None, prediction: str = "eps", x0_range: tuple | None = None,
    ):
        self._init_conditional(module, p_uncond, class_probs)
        self.schedule = Schedule() if schedule is None else schedule
        self.grid = check_choice("grid", grid, ("subsample", "own"))
        self.prediction = check_choice("prediction", prediction, ("eps", "v"))
        if x0_range is not None:
            if not (isinstance(x0_range, (tuple, list)) and len(x0_range) == 2):
                raise ValueError(f"x0_range must be (lo, hi) or None; got {x0_range!r}")
            lo, hi = check_real("x0_range[0]", x0_range[0]), check_real("x0_range[1]", x0_range[1])
            if not lo < hi:
                raise ValueError(f"x0_range must satisfy lo < hi; got ({lo:g}, {hi:g})")
            x0_range = (lo, hi)
        self.x0_range = x0_range

    def draw_noise(self, n: int, generator: torch.Generator):
        """(t index (n,), ε (n, D)[, label-drop mask (n,)])."""
        check_draw(n, generator)
        t = draw(torch.randint, 0, self.schedule.T, (n,), generator=generator, device=self.device)
        eps = draw(torch.randn, n, self.dim, generator=generator, dtype=self.dtype, device=self.device)
        return (t, eps) + self.label_drop(n, generator)

    def per_example_loss(self, x: Tensor, noise) -> Tensor:
        """Mean over dimensions of (ε̂ − ε)² (or (v̂ − v)² for v-prediction), shape (n,)."""
        x0, labels = self.split(x)
        t, eps = noise[0], noise[1]
        ab = self.schedule.alpha_bar.to(device=t.device, dtype=self.dtype)[t][:, None]
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
        time_input = (t.to(self.dtype) / (self.schedule.T - 1))[:, None]
        target = eps if self.prediction == "eps" else ab.sqrt() * eps - (1 - ab).sqrt() * x0
        return ((self.module(xt, time_input, self.dropped(labels, noise)) - target) ** 2).mean(-1)

    def eps(self, x, alpha_bar, time_input, labels):
        ti = torch.full((x.shape[0], 1), time_input, dtype=self.dtype, device=x.device)
        out = self.module(x.to(self.dtype), ti, labels).to(x.dtype)
        if self.prediction == "eps":
            return out
        ab = float(alpha_bar)
        return math.sqrt(1 - ab) * x + math.sqrt(ab) * out  # ε̂ from v̂

    @torch.no_grad()
    def sample(self, n: int, sampler: SamplerSpec | None, generator: torch.Generator) -> Tensor:
        """n draws, shape (n, D) (or (n, D + 1) with the label column for conditional models)."""
        labels = self.sample_labels(n, generator)
        return self.attach(self.sample_x(n, sampler, generator, labels, dtype=self.dtype), labels)

    # -- randomised quasi-Monte Carlo (neon_theory.qmc) -------------------------------------------
    @property
    def noise_dim(self) -> int:
        """Uniforms per row of the loss noise: t, ε (D)[, the label-drop coin]."""
        return 1 + self.dim + (1 if self.num_classes else 0)

    def noise_from_uniform(self, u: Tensor):
        """The loss noise of :meth:`draw_noise` as a function of uniforms u, shape (n, noise_dim)."""
        u = check_tensor("u", u, shape=(None, self.noise_dim))  # computed where u lives (float64), then moved
        t = (u[:, 0] * self.schedule.T).long().clamp(max=self.schedule.T - 1).to(self.device)
        eps = normal_from_uniform(u[:, 1 : 1 + self.dim]).to(device=self.device, dtype=self.dtype)
        return (t, eps) + (((u[:, -1] < self.p_uncond).to(self.device),) if self.num_classes else ())



class PosteriorTargetDiffusion:
    """A :class:`DiffusionModel`'s loss with ε replaced by E[ε | x_t] under a known GMM target.

    For x₀ drawn from ``target``, E[(ε̂ − ε)² | x_t] = (ε̂ − E[ε | x_t])² + a term free of θ,
    so the two losses have the same expected gradient; the regression on E[ε | x_t]
    (Rao–Blackwellisation over ε given x_t, an exact control variate) removes most of the
    noise of a denoising gradient.  **Only rows drawn from ``target`` give the right
    gradient**: use it for r_d (``CosineProbe(real_model=...)``), never for synthetic rows.
    ``draw_noise``, ``sample`` and ``module`` are the wrapped model's, so the noise stream is
    shared (common random numbers) with the plain loss.

    Args:
        model (DiffusionModel): unconditional, ε-prediction.
        target (GMM): the data law, of the model's dimension.
    """

    def __init__(self, model: "DiffusionModel", target: GMM):
        if not isinstance(model, DiffusionModel):
            raise ValueError(f"model must be a DiffusionModel; got {type(model).__name__}")
        if not isinstance(target, GMM):
            raise ValueError(f"target must be a GMM; got {type(target).__name__}")
        if model.num_classes:
            raise ValueError("PosteriorTargetDiffusion needs an unconditional model (num_classes = 0)")
        if target.dim != model.dim:
            raise ValueError(f"target must have the model's dimension {model.dim}; got {target.dim}")
        if model.prediction != "eps":
            raise ValueError(f"PosteriorTargetDiffusion needs prediction='eps'; got {model.prediction!r}")
        self.model, self.target, self.module = model, target, model.module

    def draw_noise(self, n: int, generator: torch.Generator):
        return self.model.draw_noise(n, generator)

    def sample(self, n: int, sampler: SamplerSpec | None, generator: torch.Generator) -> Tensor:
        return self.model.sample(n, sampler, generator)

    def per_example_loss(self, x: Tensor, noise) -> Tensor:
        """Mean over dimensions of (ε̂ − E[ε | x_t])², shape (n,)."""
        m = self.model
        x0, _ = m.split(x)
        t, eps = noise[0], noise[1]
        ab = m.schedule.alpha_bar.to(device=t.device)[t]
        xt = ab.to(m.dtype).sqrt()[:, None] * x0 + (1 - ab.to(m.dtype)).sqrt()[:, None] * eps
        eps_star = self.target.vp_noise_posterior_mean(xt.detach(), ab).to(m.dtype)
        time_input = (t.to(m.dtype) / (m.schedule.T - 1))[:, None]
        return ((m.module(xt, time_input, None) - eps_star) ** 2).mean(-1)


class ExactScoreDiffusion(DiffusionSampler):
    """The same samplers driven by the exact score of a GMM target (no learned parameters).

    ε̂(x) = −√(1−ᾱ) ∇ log p_ᾱ(x), with p_ᾱ the VP-noised mixture (class-conditional when
    labels are given).  Isolates solver and guidance bias from learning error.
    """

    def __init__(self, target: GMM, schedule: Schedule | None = None, *, grid: str = "subsample"):
        if not isinstance(target, GMM):
            raise ValueError(f"target must be a GMM; got {type(target).__name__}")
        self.target = target
        self.schedule = Schedule() if schedule is None else schedule
        self.grid = check_choice("grid", grid, ("subsample", "own"))
        self.dim, self.num_classes = target.dim, target.num_classes

    @property
    def device(self) -> torch.device:
        return self.target.means.device

    @property
    def class_probs(self) -> Tensor:
        """p(c) of a labelled target (for the labels of :meth:`sample_from_uniform`)."""
        return self.target.class_probs()

    def eps(self, x, alpha_bar, time_input, labels):
        noised = self.target.noised_vp(alpha_bar)
        if labels is None:
            return -math.sqrt(1 - alpha_bar) * noised.score(x)
        out = torch.empty_like(x, dtype=torch.float64)
        for c in labels.unique().tolist():
            mask = labels == c
            law = noised if c < 0 else noised.condition(int(c))
            out[mask] = -math.sqrt(1 - alpha_bar) * law.score(x[mask])
        return out

    @torch.no_grad()
    def sample(self, n: int, sampler: SamplerSpec | None, generator: torch.Generator, labels: Tensor | None = None) -> Tensor:
        return self.sample_x(n, sampler, generator, labels)


class SelfGuidedDiffusion(DiffusionSampler):
    """Score-space negative guidance with a self-trained model (SIMS-style), at sampling time:
    ε̂ = (1 + ω) ε̂_base − ω ε̂_self, i.e. the score (1 + ω)·score_base − ω·score_self at every noise level.

    The sampling-time twin of Neon's parameter-space merge (1 + w)θ_r − wθ_s: it needs the same
    self-trained model and no merge, but two network evaluations per sampling step instead of one.
    ω = 0 is the base model.

    Args:
        base, other (DiffusionSampler): θ_r's and θ_s's ε̂ (a :class:`DiffusionModel` or an
            :class:`ExactScoreDiffusion`), unconditional, on one schedule and grid.
        omega (float): the guidance weight ω, finite.
    """

    def __init__(self, base: DiffusionSampler, other: DiffusionSampler, omega: float):
        for name, m in (("base", base), ("other", other)):
            if not isinstance(m, DiffusionSampler):
                raise ValueError(f"{name} must be a DiffusionSampler (DiffusionModel or ExactScoreDiffusion); got {type(m).__name__}")
            if m.num_classes:
                raise ValueError(f"{name} must be unconditional; got {m.num_classes} classes")
        same = base.dim == other.dim and base.grid == other.grid and base.schedule.T == other.schedule.T and base.x0_range == other.x0_range
        if not same or not torch.equal(base.schedule.alpha_bar.cpu(), other.schedule.alpha_bar.cpu()):
            raise ValueError("base and other must share the dimension, the schedule (every alpha_bar), the grid and the x0 clipping")
        self.base, self.other = base, other
        self.omega = check_real("omega", omega)
        self.dim, self.num_classes, self.schedule, self.grid, self.x0_range = base.dim, 0, base.schedule, base.grid, base.x0_range
        self.dtype = getattr(base, "dtype", torch.float64)

    @property
    def device(self) -> torch.device:
        return self.base.device

    def eps(self, x, alpha_bar, time_input, labels):
        e = self.base.eps(x, alpha_bar, time_input, labels)
        if self.omega == 0:
            return e
        return (1 + self.omega) * e - self.omega * self.other.eps(x, alpha_bar, time_input, labels).to(e)

    @torch.no_grad()
    def sample(self, n: int, sampler: SamplerSpec | None, generator: torch.Generator) -> Tensor:
        return self.sample_x(n, sampler, generator, dtype=self.dtype)



def solver_bias(
    model: DiffusionSampler,
    specs: dict,
    step_counts,
    *,
    n: int,
    seed: int,
    reference: tuple[Tensor, Tensor] | None = None,
    labels: Tensor | None = None,
):
    """How the terminal law moves with the number of solver steps.

    Args:
        model: a sampler (typically :class:`ExactScoreDiffusion`, so learning error is absent).
        specs (dict): name → function ``steps -> SamplerSpec`` (e.g. ``lambda k: Steps(k, "heun")``).
        step_counts: step counts to try.
        n (int): samples per run (the same noise stream for every run: common random numbers).
        reference: (mean, cov) of the law the solver should reach; default the model target's
            moments (exact for an unguided exact score).  With guidance, pass the moments of a
            long, high-order run.
        labels (Tensor | None): class labels for conditional sampling.

    Returns:
        DataFrame with solver, steps, h = 1/steps, the shift of tr Cov and of the mean, the
        exact Gaussian FD to the reference, and ``trace_se`` (the Monte Carlo SE of tr Cov).
    """
    import pandas as pd

    from neon_theory.metrics import gaussian_frechet_distance, sample_moments
    from neon_theory.rng import generator

    if reference is None:
        if not isinstance(model, ExactScoreDiffusion):
            raise ValueError("reference moments are required unless the model is an ExactScoreDiffusion")
        reference = (model.target.mean(), model.target.cov())
    ref_mean, ref_cov = reference
    rows = []
    for name, make in specs.items():
        for k in step_counts:
            kw = {} if labels is None else {"labels": labels}
            x = model.sample(check_int("n", n, lo=2), make(int(k)), generator(seed, "solver-bias"), **kw).double()
            mean, cov = sample_moments(x)
            rows.append({
                "solver": name,
                "steps": int(k),
                "h": 1.0 / int(k),
                "trace_shift": float(torch.trace(cov) - torch.trace(ref_cov)),
                "mean_shift": float((mean - ref_mean).norm()),
                "fd": gaussian_frechet_distance(mean, cov, ref_mean, ref_cov),
                "trace_se": math.sqrt(2 * float(torch.trace(cov @ cov)) / n),
            })
    return pd.DataFrame(rows)


def bias_order(table, solver: str, column: str = "trace_shift") -> float:
    """Least-squares slope of log|shift| against log h for one solver: the empirical order."""
    import numpy as np

    t = table[table["solver"] == solver]
    if len(t) < 2:
        raise ValueError(f"need at least two step counts for solver {solver!r}")
    return float(np.polyfit(np.log(t["h"]), np.log(t[column].abs()), 1)[0])
