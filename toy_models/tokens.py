"""Discrete-token autoregressive models on short sequences, with exact enumeration.

Sequences have length L over a vocabulary of V tokens, so there are V^L of them and every
expectation (r_d, r_s, b, Δ, H) is a finite sum through
:class:`~neon_theory.gradients.WeightedSupport`.

* :class:`MarkovChainTarget` — a first-order Markov chain with exact sequence probabilities.
* :class:`TabularAR` — one free logit table per prefix (identifiable: the last logit of
  every table is fixed at 0), so the truth is in the family and θ* is known in closed form.
* :class:`MLPAR` — a small MLP on the one-hot prefix and the position.

Samplers (temperature, top-k, top-p, chains of them) act on each step's logits, so the
sampling law q is the product of the transformed conditionals; :meth:`TokenAR.support`
returns it exactly.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor, nn

from neon_theory.checks import check_draw, check_int, check_real, check_tensor
from neon_theory.device import module_device
from neon_theory.gradients import WeightedSupport
from neon_theory.rng import draw, multinomial
from neon_theory.samplers import SamplerSpec, categorical_logits

DTYPE = torch.float64


def all_sequences(vocab_size: int, length: int, device=None) -> Tensor:
    """Every sequence in lexicographic order, shape (V^L, L), int64, on ``device`` (default: the default device)."""
    check_int("vocab_size", vocab_size, lo=2)
    check_int("length", length, lo=1)
    return torch.tensor(list(itertools.product(range(vocab_size), repeat=length)), dtype=torch.long, device=device)


class MarkovChainTarget:
    """x₁ ~ init, x_{i+1} | x_i ~ trans[x_i].

    Args:
        init (Tensor): shape (V,), positive, summing to 1.
        trans (Tensor): shape (V, V), rows positive and summing to 1.
        length (int): L in [1, inf).
    """

    def __init__(self, init: Tensor, trans: Tensor, length: int):
        check_tensor("init", init, ndim=1)
        V = init.shape[0]
        check_tensor("trans", trans, shape=(V, V))
        self.length = check_int("length", length, lo=1)
        if bool((init <= 0).any()) or abs(float(init.sum()) - 1) > 1e-9:
            raise ValueError("init must be positive and sum to 1")
        if bool((trans <= 0).any()) or float((trans.sum(1) - 1).abs().max()) > 1e-9:
            raise ValueError("trans must have positive rows summing to 1")
        self.init, self.trans = init.to(DTYPE), trans.to(DTYPE)

    @property
    def vocab_size(self) -> int:
        return self.init.shape[0]

    def log_prob(self, x: Tensor) -> Tensor:
        """log p(x), shape (n,). x (Tensor): tokens of shape (n, L)."""
        x = check_tensor("x", x, shape=(None, self.length)).to(self.init.device)
        lp = torch.log(self.init)[x[:, 0]]
        for i in range(1, self.length):
            lp = lp + torch.log(self.trans)[x[:, i - 1], x[:, i]]
        return lp

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        check_draw(n, generator)
        out = torch.empty(n, self.length, dtype=torch.long, device=self.init.device)
        out[:, 0] = multinomial(self.init, n, generator=generator, replacement=True)
        for i in range(1, self.length):
            out[:, i] = multinomial(self.trans[out[:, i - 1]], 1, generator=generator)[:, 0]
        return out

    def support(self) -> WeightedSupport:
        seqs = all_sequences(self.vocab_size, self.length, self.init.device)
        return WeightedSupport(seqs, torch.exp(self.log_prob(seqs)))

    @classmethod
    def random(cls, vocab_size: int, length: int, generator: torch.Generator, concentration: float = 1.0) -> "MarkovChainTarget":
        """A random chain with positive probabilities (lower concentration = peakier rows)."""
        # positive random rows: normalised powers of exponential draws (Dirichlet(1) at concentration 1)
        g = -torch.log(draw(torch.rand, vocab_size + 1, vocab_size, generator=generator, dtype=DTYPE).clamp_min(1e-12))
        g = g ** (1.0 / check_real("concentration", concentration, 0.0, math.inf, lo_open=True))
        return cls(g[0] / g[0].sum(), g[1:] / g[1:].sum(1, keepdim=True), length)


class TokenAR:
    """Base class: subclasses give ``step_logits(prefix_tokens)`` for every position."""

    module: nn.Module
    vocab_size: int
    length: int

    def all_logits(self, x: Tensor) -> Tensor:
        """Logits of x_i given x_<i for every i, shape (n, L, V)."""
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        """Where θ lives; tokens are moved there."""
        return module_device(self.module)

    def draw_noise(self, n: int, generator: torch.Generator):
        return None

    def _check_tokens(self, x: Tensor) -> Tensor:
        check_tensor("x", x, shape=(None, self.length))
        if x.is_floating_point():
            raise ValueError("x must hold integer tokens")
        return x.long().to(self.device)

    def per_example_loss(self, x: Tensor, noise=None) -> Tensor:
        """NLL of each sequence, shape (n,). x (Tensor): tokens of shape (n, L) in [0, V)."""
        x = self._check_tokens(x)
        logp = torch.log_softmax(self.all_logits(x), -1)
        return -logp.gather(-1, x[..., None])[..., 0].sum(-1)

    def log_prob(self, x: Tensor) -> Tensor:
        return -self.per_example_loss(x)

    def sequence_log_q(self, x: Tensor, sampler: SamplerSpec | None) -> Tensor:
        """log q_{θ,κ}(x) for sequences x (n, L): the sum of transformed step log-probabilities."""
        x = self._check_tokens(x)
        with torch.no_grad():
            logq = torch.log_softmax(categorical_logits(self.all_logits(x), sampler), -1)
        return logq.gather(-1, x[..., None])[..., 0].sum(-1)

    def support(self, sampler: SamplerSpec | None = None) -> WeightedSupport:
        """q_{θ,κ} over all V^L sequences, exactly (sequences with q = 0 get weight 0)."""
        seqs = all_sequences(self.vocab_size, self.length, self.device)
        w = torch.exp(self.sequence_log_q(seqs, sampler)).to(DTYPE)
        return WeightedSupport(seqs, w / w.sum())

    @torch.no_grad()
    def sample(self, n: int, sampler: SamplerSpec | None, generator: torch.Generator) -> Tensor:
        """n sequences from q_{θ,κ}, shape (n, L), int64, on θ's device."""
        check_draw(n, generator)
        x = torch.zeros(n, self.length, dtype=torch.long, device=self.device)
        for i in range(self.length):
            logits = categorical_logits(self.all_logits(x)[:, i], sampler)
            x[:, i] = multinomial(torch.softmax(logits.double(), -1), 1, generator=generator)[:, 0]
        return x


def _prefix_index(x: Tensor, vocab_size: int) -> Tensor:
    """Index of the prefix x_<i among all prefixes of all lengths, shape (n, L)."""
    n, L = x.shape
    idx = torch.zeros(n, L, dtype=torch.long, device=x.device)
    offset, code = 0, torch.zeros(n, dtype=torch.long, device=x.device)
    for i in range(L):
        idx[:, i] = offset + code
        offset += vocab_size**i
        code = code * vocab_size + x[:, i]
    return idx


class TabularParams(nn.Module):
    def __init__(self, num_prefixes: int, vocab_size: int):
        super().__init__()
        self.logits_free = nn.Parameter(torch.zeros(num_prefixes, vocab_size - 1, dtype=DTYPE))


class TabularAR(TokenAR):
    """One logit table per prefix (V^0 + … + V^{L−1} tables of V − 1 free logits).

    Args:
        vocab_size (int): V in [2, inf).
        length (int): L in [1, inf).
    """

    def __init__(self, vocab_size: int, length: int):
        self.vocab_size = check_int("vocab_size", vocab_size, lo=2)
        self.length = check_int("length", length, lo=1)
        self.num_prefixes = sum(vocab_size**i for i in range(length))
        self.module = TabularParams(self.num_prefixes, vocab_size)

    def all_logits(self, x: Tensor) -> Tensor:
        table = torch.cat([self.module.logits_free, self.module.logits_free.new_zeros(self.num_prefixes, 1)], -1)
        return table[_prefix_index(x, self.vocab_size)]

    @classmethod
    def from_log_prob(cls, log_prob, vocab_size: int, length: int) -> "TabularAR":
        """The member of the family equal to a law over sequences given by ``log_prob(seqs)`` (θ*), on the device of its values."""
        seqs = all_sequences(vocab_size, length)
        p = torch.exp(log_prob(seqs).to(DTYPE))
        model = cls(vocab_size, length)
        model.module.to(p.device)
        with torch.no_grad():
            for i in range(length):
                # marginal of the prefix x_<=i, then conditionals of x_i given x_<i
                block = p.reshape(*(vocab_size,) * length).sum(dim=tuple(range(i + 1, length))) if i + 1 < length else p.reshape(*(vocab_size,) * length)
                cond = block.reshape(-1, vocab_size)
                logits = torch.log(cond) - torch.log(cond[:, -1:])
                offset = sum(vocab_size**j for j in range(i))
                model.module.logits_free[offset : offset + vocab_size**i] = logits[:, :-1]
        return model


class MLPAR(TokenAR):
    """MLP on [one-hot prefix padded to L−1 positions, one-hot position] → V logits.

    Args:
        vocab_size (int): V in [2, inf).
        length (int): L in [1, inf).
        hidden (int): hidden units in [1, inf).
    """

    def __init__(self, vocab_size: int, length: int, hidden: int = 32, dtype: torch.dtype = DTYPE):
        self.vocab_size = check_int("vocab_size", vocab_size, lo=2)
        self.length = check_int("length", length, lo=1)
        check_int("hidden", hidden, lo=1)
        in_dim = max(length - 1, 0) * (vocab_size + 1) + length
        self.module = nn.Sequential(nn.Linear(in_dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, vocab_size)).to(dtype)

    def all_logits(self, x: Tensor) -> Tensor:
        n, L, V = x.shape[0], self.length, self.vocab_size
        dtype = next(self.module.parameters()).dtype
        feats = []
        for i in range(L):
            # tokens before position i, the rest marked with the pad symbol V
            prefix = torch.full((n, max(L - 1, 0)), V, dtype=torch.long, device=x.device)
            if i:
                prefix[:, :i] = x[:, :i]
            parts = [nn.functional.one_hot(prefix, V + 1).reshape(n, -1).to(dtype)] if L > 1 else []
            parts.append(nn.functional.one_hot(torch.full((n,), i, dtype=torch.long, device=x.device), L).to(dtype))
            feats.append(torch.cat(parts, -1))
        return self.module(torch.stack(feats, 1))


def exact_kl(target: MarkovChainTarget, model: TokenAR) -> float:
    """KL(p_data ‖ p_θ) over all sequences, exactly (nats)."""
    support = target.support()
    with torch.no_grad():
        return float((support.weights * (torch.log(support.weights) - model.log_prob(support.points).to(support.weights))).sum())


def exact_token_alignment(target: MarkovChainTarget, model: TabularAR, sampler: SamplerSpec | None, P):
    """The exact :class:`AlignmentReport`, with Theorem 1 quantities, for a tabular model.

    θ* is the tabular member equal to the target; r_d, r_s, b, Δ, H_d and Ĥ are finite sums
    over all V^L sequences.
    """
    from neon_theory.alignment import alignment, theory_quantities
    from neon_theory.gradients import population_gradient, population_hessian
    from neon_theory.params import parameter_vector

    if not isinstance(model, TabularAR):
        raise ValueError(f"model must be a TabularAR (θ* must be in the family); got {type(model).__name__}")
    if (model.vocab_size, model.length) != (target.vocab_size, target.length):
        raise ValueError("model and target must share vocab_size and length")
    star = TabularAR.from_log_prob(target.log_prob, target.vocab_size, target.length)
    star.module.to(model.device)  # θ* next to θ_r, whichever device the target is on
    q = model.support(sampler)
    H_d = population_hessian(star, target.support())
    theory = theory_quantities(
        parameter_vector(model.module) - parameter_vector(star.module),
        H_d,
        population_gradient(star, q).mean,
        population_hessian(star, q) - H_d,
        P,
    )
    return alignment(
        population_gradient(model, target.support()),
        population_gradient(model, q),
        P,
        hessian=population_hessian(model, target.support()),
        theory=theory,
    )
