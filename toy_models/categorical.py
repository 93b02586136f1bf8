"""An exact categorical family: one token from a vocabulary of size V.

θ ∈ ℝ^{V−1} are the logits of tokens 0..V−2; token V−1 has logit 0, so θ is identifiable
and the Fisher is positive definite.  Loss = NLL.  Samplers: temperature, top-k, top-p
(and chains of them) on the logits.  Every expectation is a finite sum, so r_d, r_s, b
and Δ are exact through :class:`~neon_theory.gradients.WeightedSupport`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from neon_theory._validation import check_generator, check_int, check_tensor
from neon_theory.gradients import WeightedSupport
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
        return -torch.log_softmax(self.module.logits(), -1)[x.long()]

    def log_prob(self, x: Tensor) -> Tensor:
        return -self.per_example_loss(x)

    def sampler_probs(self, sampler: SamplerSpec | None = None) -> Tensor:
        """q_{θ,κ} exactly, shape (V,)."""
        with torch.no_grad():
            return torch.softmax(categorical_logits(self.module.logits(), sampler), -1)

    @torch.no_grad()
    def sample(self, n: int, sampler: SamplerSpec | None, generator: torch.Generator) -> Tensor:
        """n tokens from q_{θ,κ}, shape (n,), int64."""
        check_int("n", n, lo=1)
        check_generator("generator", generator)
        return torch.multinomial(self.sampler_probs(sampler), n, replacement=True, generator=generator)

    def support(self, sampler: SamplerSpec | None = None) -> WeightedSupport:
        """q_{θ,κ} as an exact enumeration source."""
        return WeightedSupport(torch.arange(self.vocab_size), self.sampler_probs(sampler))


class CategoricalTarget:
    """A categorical data law with exact probabilities.

    Args:
        probs (Tensor): shape (V,), positive, summing to 1.
    """

    def __init__(self, probs: Tensor):
        self.probs = _check_probs(probs, "probs")

    @property
    def vocab_size(self) -> int:
        return self.probs.shape[0]

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        check_int("n", n, lo=1)
        check_generator("generator", generator)
        return torch.multinomial(self.probs, n, replacement=True, generator=generator)

    def log_prob(self, x: Tensor) -> Tensor:
        return torch.log(self.probs)[x.long()]

    def support(self) -> WeightedSupport:
        return WeightedSupport(torch.arange(self.vocab_size), self.probs)
