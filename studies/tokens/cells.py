"""Discrete tokens by exact enumeration: the alignment of a tabular token AR model (``token-cell``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from neon_theory.checks import check_choice, check_int, check_real
from neon_theory.rng import generator
from neon_theory.run.experiments import experiment
from neon_theory.sampler_text import parse_sampler
from neon_theory.samplers import CATEGORICAL, Chain, TopK, undefined_at_neutral

from ..common import POSITIVE, finite_or_none, results_of, sampler_field


@dataclass(frozen=True)
class TokenCell:
    """Exact alignment of a tabular token AR model fitted to n_base sequences of a random Markov chain.

    θ_r is the smoothed maximum-likelihood table (sequence counts + ``smoothing``), so it varies
    with the seed; the chain is fixed by ``chain_seed``.  Every expectation is an exact sum
    over V^L sequences.  Heavier smoothing makes θ_r more diffuse, which flips the sign of s
    for a sharpening sampler (the sign law of the Gaussian family).

    Attributes:
        sampler (str): a categorical sampler in the text syntax (:mod:`neon_theory.sampler_text`):
            ``temperature=T``, ``top-k=k`` (k ≤ V) or ``top-p=p``, or a chain of them.
        vocab_size (int): V, the number of tokens, in [2, 6].
        length (int): L, tokens per sequence, in [1, 4].
        n_base (int): real sequences in [1, inf).
        preconditioner (str): ``identity`` or ``natural`` (inverse exact Hessian at θ_r).
        chain_seed (int): seed of the random chain.
        smoothing (float): pseudo-count per sequence in (0, inf) (½ = Jeffreys/Krichevsky–Trofimov).
    """

    sampler: str = "temperature=0.7"
    vocab_size: int = 3
    length: int = 3
    n_base: int = 200
    preconditioner: str = "natural"
    chain_seed: int = 0
    smoothing: float = 0.5

    RENAMED = {"knob": "write sampler: temperature=T, top-k=k or top-p=p (one field)", "value": "write sampler: temperature=T, top-k=k or top-p=p (one field)"}

    def __post_init__(self):
        spec = sampler_field(self, CATEGORICAL)
        check_real("smoothing", self.smoothing, *POSITIVE, lo_open=True)
        check_int("vocab_size", self.vocab_size, lo=2, hi=6)
        check_int("length", self.length, lo=1, hi=4)
        for part in spec.specs if isinstance(spec, Chain) else (spec,):
            if isinstance(part, TopK) and part.k > self.vocab_size:  # the one check that needs the vocabulary
                raise ValueError(f"sampler {self.sampler!r}: k must be at most vocab_size = {self.vocab_size}")
        check_int("n_base", self.n_base, lo=1)
        check_choice("preconditioner", self.preconditioner, ("identity", "natural"))
        check_int("chain_seed", self.chain_seed, lo=0)

    def spec(self):
        return parse_sampler(self.sampler)


@experiment("token-cell", config=TokenCell, results=results_of(
    "s", "cosine", "sharpening", "undefined", kl_base="the exact KL(chain || theta_r) of the base table, in nats",
))
def token_cell(cfg: TokenCell, seed: int) -> dict:
    from neon_theory.gradients import population_hessian
    from neon_theory.preconditioners import exact_inverse, identity
    from toy_models.tokens import MarkovChainTarget, TabularAR, all_sequences, exact_kl, exact_token_alignment

    chain = MarkovChainTarget.random(cfg.vocab_size, cfg.length, generator(cfg.chain_seed, "chain"))
    seqs = all_sequences(cfg.vocab_size, cfg.length)
    x = chain.sample(cfg.n_base, generator(seed, "real"))
    index = (x * cfg.vocab_size ** torch.arange(cfg.length - 1, -1, -1)).sum(1)
    counts = torch.bincount(index, minlength=seqs.shape[0]).double() + cfg.smoothing
    log_p = torch.log(counts / counts.sum())
    model = TabularAR.from_log_prob(lambda s: log_p[(s * cfg.vocab_size ** torch.arange(cfg.length - 1, -1, -1)).sum(1)], cfg.vocab_size, cfg.length)
    P = identity() if cfg.preconditioner == "identity" else exact_inverse(population_hessian(model, model.support()))
    sampler = cfg.spec()
    rep = exact_token_alignment(chain, model, sampler, P)
    record = {"s": rep.s, "cosine": finite_or_none(rep.cosine), "kl_base": exact_kl(chain, model), "sharpening": sampler.sharpening(cfg.vocab_size).value}
    return undefined_at_neutral(record, sampler.is_neutral(cfg.vocab_size))
