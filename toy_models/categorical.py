"""An exact categorical family: one token from a vocabulary of size V.

θ ∈ ℝ^{V−1} are the logits of tokens 0..V−2; token V−1 has logit 0, so θ is identifiable
and the Fisher is positive definite.  Loss = NLL.  Samplers: temperature, top-k, top-p
(and chains of them) on the logits.  Every expectation is a finite sum, so r_d, r_s, b
and Δ are exact through :class:`~neon_theory.gradients.WeightedSupport`.

:func:`exact_categorical_s` gives s and the P-cosine in closed form (natural or identity P),
batched over bases; :func:`categorical_sign_rates` tabulates how often s > 0 over seeds for
add-α maximum-likelihood bases (:func:`smoothed_mle`) of one categorical law.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor, nn

from neon_theory.checks import check_choice, check_draw, check_int, check_real, check_tensor
from neon_theory.gradients import WeightedSupport
from neon_theory.rng import multinomial
from neon_theory.samplers import SamplerSpec, categorical_logits

DTYPE = torch.float64


def _check_probs(probs: Tensor, name: str) -> Tensor:
    check_tensor(name, probs, ndim=1)
    check_int(f"{name} length (vocabulary size)", probs.shape[0], lo=2)
    p = probs.to(DTYPE)
    if bool((p <= 0).any()) or abs(float(p.sum()) - 1) > 1e-9:
        raise ValueError(f"{name} must be positive and sum to 1 (within 1e-9)")
    return p


class CategoricalParams(nn.Module):
    def __init__(self, probs: Tensor):
        super().__init__()
        p = _check_probs(probs, "probs")
        self.logits_free = nn.Parameter(torch.log(p[:-1] / p[-1]).clone())

    def logits(self) -> Tensor:
        return torch.cat([self.logits_free, self.logits_free.new_zeros(1)])


class CategoricalModel:
    """Categorical generator implementing the GenerativeModel contract.

    Args:
        probs (Tensor): shape (V,), positive, summing to 1.
    """

    def __init__(self, probs: Tensor):
        self.module = CategoricalParams(probs)

    @property
    def vocab_size(self) -> int:
        return self.module.logits_free.shape[0] + 1

    @property
    def probs(self) -> Tensor:
        with torch.no_grad():
            return torch.softmax(self.module.logits(), -1)

    def draw_noise(self, n: int, generator: torch.Generator):
        return None

    def per_example_loss(self, x: Tensor, noise=None) -> Tensor:
        """NLL, shape (n,). x (Tensor): integer tokens, shape (n,), in [0, V)."""
        check_tensor("x", x, ndim=1)
        if x.is_floating_point() or (x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.vocab_size)):
            raise ValueError(f"x must hold integer tokens in [0, {self.vocab_size})")
        logits = self.module.logits()
        return -torch.log_softmax(logits, -1)[x.long().to(logits.device)]

    def log_prob(self, x: Tensor) -> Tensor:
        return -self.per_example_loss(x)

    def sampler_probs(self, sampler: SamplerSpec | None = None) -> Tensor:
        """q_{θ,κ} exactly, shape (V,)."""
        with torch.no_grad():
            return torch.softmax(categorical_logits(self.module.logits(), sampler), -1)

    @torch.no_grad()
    def sample(self, n: int, sampler: SamplerSpec | None, generator: torch.Generator) -> Tensor:
        """n tokens from q_{θ,κ}, shape (n,), int64, on θ's device."""
        check_draw(n, generator)
        return multinomial(self.sampler_probs(sampler), n, generator=generator, replacement=True)

    def support(self, sampler: SamplerSpec | None = None) -> WeightedSupport:
        """q_{θ,κ} as an exact enumeration source."""
        q = self.sampler_probs(sampler)
        return WeightedSupport(torch.arange(self.vocab_size, device=q.device), q)


class CategoricalTarget:
    """A categorical data law with exact probabilities.

    Args:
        probs (Tensor): shape (V,), positive, summing to 1.
    """

    def __init__(self, probs: Tensor):
        self.probs = _check_probs(probs, "probs")
        self.vocab_size = self.probs.shape[0]

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        check_draw(n, generator)
        return multinomial(self.probs, n, generator=generator, replacement=True)

    def log_prob(self, x: Tensor) -> Tensor:
        return torch.log(self.probs)[x.long().to(self.probs.device)]

    def support(self) -> WeightedSupport:
        return WeightedSupport(torch.arange(self.vocab_size, device=self.probs.device), self.probs)


# ---- closed-form alignment and sign rates over seeds ------------------------------------


PRECONDITIONERS = ("natural", "identity")


def smoothed_mle(counts: Tensor, smoothing: float) -> Tensor:
    """(counts + smoothing) / (n + V·smoothing) along the last dimension (add-``smoothing`` MLE).

    Args:
        counts (Tensor): shape (..., V), nonnegative token counts.
        smoothing (float): pseudo-count per token in (0, inf) (½ = Jeffreys/Krichevsky–Trofimov).
    """
    check_tensor("counts", counts)
    if counts.ndim < 1 or counts.shape[-1] < 2 or bool((counts < 0).any()):
        raise ValueError("counts must have a last dimension of size ≥ 2 and nonnegative entries")
    a = check_real("smoothing", smoothing, 0.0, math.inf, lo_open=True)
    c = counts.to(DTYPE) + a
    return c / c.sum(-1, keepdim=True)


def exact_categorical_s(p_data: Tensor, p_base: Tensor, sampler: SamplerSpec | None = None, preconditioner: str = "natural") -> tuple[Tensor, Tensor]:
    """s = ⟨r_d, P r_s⟩ and the P-cosine at θ_r for the categorical family, in closed form.

    With the free logits of :class:`CategoricalParams` (token V−1 is the reference),
    r_d = (p_r − p_d)_{<V−1} and r_s = (p_r − q)_{<V−1}, where q is the sampler's law.

    * ``"natural"``: P = F(θ_r)⁻¹ = (diag p_r − p_r p_rᵀ)⁻¹ on the free coordinates, so
      s = Σ_x (p_d(x) − p_r(x))(q(x) − p_r(x)) / p_r(x) (a χ² inner product, invariant to the
      choice of reference token) and ‖r_d‖²_P = χ²(p_d ‖ p_r).
    * ``"identity"``: P = I on the free logits (depends on which token is the reference).

    Args:
        p_data (Tensor): shape (V,) or (..., V), the data law (positive, rows summing to 1).
        p_base (Tensor): shape (..., V), the base model's law p_{θ_r}, broadcastable with p_data.
        sampler: any categorical sampler spec (temperature, top-k, top-p, chains) or None.
        preconditioner (str): ``"natural"`` or ``"identity"``.

    Returns:
        (s, cosine), each of the broadcast batch shape; the cosine is NaN where r_d or r_s is 0.
    """
    check_choice("preconditioner", preconditioner, PRECONDITIONERS)
    for name, p in (("p_data", p_data), ("p_base", p_base)):
        check_tensor(name, p)
        if p.ndim < 1 or p.shape[-1] < 2 or bool((p <= 0).any()) or float((p.sum(-1) - 1).abs().max()) > 1e-9:
            raise ValueError(f"{name} must be positive along a last dimension of size ≥ 2, summing to 1 (within 1e-9)")
    if p_data.shape[-1] != p_base.shape[-1]:
        raise ValueError(f"p_data and p_base must share the vocabulary size; got {p_data.shape[-1]} and {p_base.shape[-1]}")
    p_d, p_r = p_data.to(DTYPE), p_base.to(DTYPE)
    q = torch.softmax(categorical_logits(torch.log(p_r), sampler), -1)
    a, b = p_r - p_d, p_r - q  # r_d, r_s on all V tokens (each sums to 0)
    if preconditioner == "natural":
        inner = lambda u, v: (u * v / p_r).sum(-1)  # noqa: E731
    else:
        inner = lambda u, v: (u[..., :-1] * v[..., :-1]).sum(-1)  # noqa: E731
    s = inner(a, b)
    norms = torch.sqrt(inner(a, a) * inner(b, b))
    cosine = torch.where(norms > 0, s / norms.clamp_min(1e-300), torch.full_like(s, math.nan))
    return s, cosine


def categorical_sign_rates(
    probs: Tensor,
    n,
    smoothing,
    temperatures,
    seeds=1000,
    preconditioners=PRECONDITIONERS,
):
    """How often s > 0 over seeds, for add-α MLE bases of one categorical law, exactly.

    For every seed, n tokens are drawn from ``probs`` (stream ``generator(seed, "real")``,
    shared by every smoothing, temperature and preconditioner: common random numbers), the
    base is the add-α MLE (:func:`smoothed_mle`), and s and the P-cosine are exact
    (:func:`exact_categorical_s`) with the density temperature sampler q ∝ p_r^{1/T}.

    Args:
        probs (Tensor): shape (V,), the data law (positive, summing to 1).
        n (int or iterable of int): real tokens per seed, each in [1, inf).
        smoothing (float or iterable): pseudo-counts α, each in (0, inf).
        temperatures (float or iterable): density temperatures T, each in (0, inf).
        seeds (int or iterable of int): a count k (seeds 0..k−1) or explicit seeds in [0, inf).
        preconditioners: subset of ``("natural", "identity")``.

    Returns:
        pandas DataFrame, one row per (n, smoothing, temperature, preconditioner) with
        ``vocab_size``, ``seeds``, ``frac_pos`` (fraction of seeds with s > 0) and its binomial
        SE ``frac_pos_se``, ``n_zero`` (seeds with s = 0 exactly, e.g. a uniform base),
        ``mean_s``, ``mean_s_se``, ``mean_cos`` and ``mean_cos_se`` (over seeds with a defined cosine).
    """
    import pandas as pd

    from neon_theory.rng import generator
    from neon_theory.samplers import Temperature

    def as_list(name, value, check):
        values = [value] if isinstance(value, numbers.Real) else list(value)
        if not values:
            raise ValueError(f"{name} must not be empty")
        return [check(name, v) for v in values]

    target = CategoricalTarget(probs)
    ns = as_list("n", n, lambda k, v: check_int(k, v, lo=1))
    alphas = as_list("smoothing", smoothing, lambda k, v: check_real(k, v, 0.0, math.inf, lo_open=True))
    temps = as_list("temperatures", temperatures, lambda k, v: check_real(k, v, 0.0, math.inf, lo_open=True))
    seed_list = (
        list(range(check_int("seeds", seeds, lo=1))) if isinstance(seeds, numbers.Integral) else as_list("seeds", seeds, lambda k, v: check_int(k, v, lo=0))
    )
    pcs = [preconditioners] if isinstance(preconditioners, str) else list(preconditioners)
    if not pcs:
        raise ValueError("preconditioners must not be empty")
    for pc in pcs:
        check_choice("preconditioner", pc, PRECONDITIONERS)
    V, k = target.vocab_size, len(seed_list)
    rows = []
    for n_ in ns:
        counts = torch.stack([torch.bincount(target.sample(n_, generator(seed, "real")), minlength=V) for seed in seed_list])
        for alpha in alphas:
            p_r = smoothed_mle(counts, alpha)
            for T in temps:
                for pc in pcs:
                    s, cos = exact_categorical_s(target.probs, p_r, Temperature(T), pc)
                    pos = float((s > 0).double().mean())
                    c = cos[~torch.isnan(cos)]
                    rows.append({
                        "vocab_size": V, "n": n_, "smoothing": alpha, "temperature": T, "preconditioner": pc, "seeds": k,
                        "frac_pos": pos, "frac_pos_se": math.sqrt(pos * (1 - pos) / k), "n_zero": int((s == 0).sum()),
                        "mean_s": float(s.mean()), "mean_s_se": float(s.std() / math.sqrt(k)) if k > 1 else math.nan,
                        "mean_cos": float(c.mean()) if len(c) else math.nan,
                        "mean_cos_se": float(c.std() / math.sqrt(len(c))) if len(c) > 1 else math.nan,
                    })
    return pd.DataFrame(rows)
