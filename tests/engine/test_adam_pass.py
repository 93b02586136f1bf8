"""Adam-minibatch P walks every population sample once per pass (regression for P = 1/eps).

The model: θ = (a, b), loss ℓ(x) = ½(x₀ − a)² + x₁·½(x₀ − b)² with x₁ ∈ {0, 1} an indicator
that is 1 on two "tail" rows only.  ∂ℓ/∂b is non-zero on those two rows and nowhere else, like
a first-layer unit that only tail samples activate.  A minibatch scheme that misses both rows
leaves v̂_b = 0, so P_bb = 1/eps and b swamps every P-norm.
"""

import warnings

import pytest
import torch
from torch import nn

from neon_theory import ModelAdapter
from neon_theory.alignment import DegenerateCosineWarning, alignment, coordinate_shares
from neon_theory.gradients import per_sample_gradients
from neon_theory.preconditioners import Diagonal, Walk, adam_minibatch
from neon_theory.rng import draw, generator

F64 = torch.float64
N, TAIL, B = 200, (17, 151), 8

def _adam(model, source, **kwargs):
    """adam_minibatch with the Walk's fields given as keywords (the Walk is built inside, so its checks are tested too)."""
    walk = {k: kwargs.pop(k) for k in ("batch_size", "passes", "steps", "shuffle", "blocks") if k in kwargs}
    return adam_minibatch(model, source, Walk(**walk), **kwargs)



class TwoParams(nn.Module):
    def __init__(self):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor([0.3, -0.2], dtype=F64))


def _model(seen: list | None = None) -> ModelAdapter:
    def loss(module, x, noise):
        if seen is not None:
            seen.append(x[:, 2].long().clone())
        a, b = module.theta
        return 0.5 * (x[:, 0] - a) ** 2 + x[:, 1] * 0.5 * (x[:, 0] - b) ** 2

    return ModelAdapter(TwoParams(), loss_fn=loss, sample_fn=lambda m, n, s, g: torch.zeros(n, 3, dtype=F64))


def _population(seed: int, shift: float = 0.0) -> torch.Tensor:
    """(N, 3): value, tail indicator, row id."""
    x = draw(torch.randn, N, generator=generator(seed, "pop"), dtype=F64) + shift
    tail = torch.zeros(N, dtype=F64)
    tail[list(TAIL)] = 1.0
    x[list(TAIL)] += 3.0  # the tail rows sit far out
    return torch.stack([x, tail, torch.arange(N, dtype=F64)], 1)


@pytest.mark.parametrize("passes", [1, 3])
@pytest.mark.parametrize("batch_size", [7, 8, 200, 250])
def test_every_row_is_seen_exactly_once_per_pass_with_a_partial_last_batch(passes, batch_size):
    seen: list = []
    adam_minibatch(_model(seen), _population(0), Walk(batch_size, passes=passes), generator=generator(1, "adam"))
    steps_per_pass = -(-N // batch_size)
    assert len(seen) == passes * steps_per_pass
    for k in range(passes):
        rows = torch.cat(seen[k * steps_per_pass : (k + 1) * steps_per_pass])
        assert torch.equal(rows.sort().values, torch.arange(N))
    assert seen[steps_per_pass - 1].shape[0] == N - (steps_per_pass - 1) * batch_size


def test_shuffle_false_walks_in_order_and_shuffle_true_permutes():
    seen: list = []
    adam_minibatch(_model(seen), _population(0), Walk(B, shuffle=False))
    assert torch.equal(torch.cat(seen), torch.arange(N))
    seen.clear()
    adam_minibatch(_model(seen), _population(0), B, generator=generator(2, "adam"))
    assert not torch.equal(torch.cat(seen), torch.arange(N))


def _with_replacement_P(model, x, seed: int) -> Diagonal:
    """The old scheme, re-derived: ⌈N/B⌉ minibatches drawn uniformly with replacement."""
    g = generator(seed, "adam")
    v, T = torch.zeros(2, dtype=F64), -(-N // B)
    for _ in range(T):
        grad = per_sample_gradients(model, x[draw(torch.randint, 0, N, (B,), generator=g)], method="loop").mean(0)
        v = 0.999 * v + 0.001 * grad**2
    return Diagonal(1 / ((v / (1 - 0.999**T)).sqrt() + 1e-8))


def test_a_unit_living_on_two_tail_rows_keeps_a_finite_P_and_a_non_degenerate_cosine():
    """Over 20 seeds: one pass never leaves v̂_b = 0, while drawing with replacement does (and the
    cosine it gives is one coordinate's)."""
    model = _model()
    missed_with_replacement = 0
    for seed in range(20):
        pop = _population(seed)
        P = adam_minibatch(model, pop, B, generator=generator(seed, "adam"))
        assert float(P.diag.max()) < 1e3  # both coordinates saw gradient mass: P_bb ≈ 1/|ḡ_b| ≪ 1/eps
        r_d = per_sample_gradients(model, pop).mean(0)
        r_s = per_sample_gradients(model, _population(seed + 100, shift=0.5)).mean(0)
        assert float(coordinate_shares(r_d, P).max()) < 0.99
        old = _with_replacement_P(model, pop, seed)
        if float(old.diag[1]) > 1e7:
            missed_with_replacement += 1
            with pytest.warns(DegenerateCosineWarning):
                rep = alignment(_estimate(r_d), _estimate(r_s), old)
            assert rep.degenerate and rep.max_share_d > 0.999
    assert missed_with_replacement >= 1  # the regression case really occurs among these seeds


def _estimate(vector):
    """A non-exact GradientEstimate around a vector (8 equal batches at ±1e-6), so that warnings fire."""
    from neon_theory.gradients import GradientEstimate

    spread = 1e-6 * torch.tensor([1.0, -1.0] * 4, dtype=F64)[:, None]
    means = vector[None] + spread
    return GradientEstimate(vector.double(), torch.full_like(vector, 1e-7), means, torch.full((8,), 1 / 8, dtype=F64), 8 * N)


def test_block_diagonal_deletes_each_block_as_a_direct_re_derivation_does():
    """P without block j = Adam's bias-corrected EMA with block j's minibatch terms removed, re-derived
    step by step: v̂^(−j) = Σ_{t∉j} c_t g_t² / Σ_{t∉j} c_t with c_t = (1−β₂)β₂^{T−t}."""
    model, pop, beta2 = _model(), _population(3), 0.9
    P = adam_minibatch(model, pop, Walk(30, passes=2, blocks=3), beta2=beta2, generator=generator(4, "adam"))
    assert P.row_edges == (0, 60, 150, 200)  # 7 minibatches of 30 (the last of 20) in blocks of 2, 3, 2
    g = generator(4, "adam")
    terms = []
    for _ in range(2):
        for t in draw(torch.randperm, 7, generator=g).tolist():
            grad = per_sample_gradients(model, pop[30 * t : 30 * (t + 1)], method="loop").mean(0)
            terms.append((t, grad**2))
    T = len(terms)
    c = torch.tensor([(1 - beta2) * beta2 ** (T - 1 - i) for i in range(T)], dtype=F64)
    block = torch.tensor([0 if t < 2 else 1 if t < 5 else 2 for t, _ in terms])
    sq = torch.stack([v for _, v in terms])
    full = (c[:, None] * sq).sum(0) / c.sum()
    torch.testing.assert_close(P.diag, 1 / (full.sqrt() + 1e-8), rtol=1e-12, atol=0)
    for j in range(3):
        keep = block != j
        v = (c[keep, None] * sq[keep]).sum(0) / c[keep].sum()
        torch.testing.assert_close(P.delete_one()[j], 1 / (v.sqrt() + 1e-8), rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(batch_size=8, blocks=1), "blocks"), (dict(batch_size=8, blocks=26), r"blocks must be an integer in \[2, 25\]"),
     (dict(batch_size=200, blocks=2), "at least 2 minibatches")],
)
def test_blocks_are_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _adam(_model(), _population(0), generator=generator(0), **kwargs)


def test_batch_edges_are_validated_and_used():
    from neon_theory.gradients import population_gradient

    model, pop = _model(), _population(0)
    est = population_gradient(model, pop, batch_edges=(0, 50, 200))
    assert est.n_batches == 2
    torch.testing.assert_close(est.batch_weights, torch.tensor([0.25, 0.75], dtype=F64), rtol=0, atol=1e-15)
    full = per_sample_gradients(model, pop).mean(0)
    torch.testing.assert_close(est.mean, full, rtol=0, atol=1e-12)
    for edges in ((0, 200), (0, 100, 100, 200), (0, 50, 199), (1, 50, 200)):
        with pytest.raises(ValueError, match="batch_edges"):
            population_gradient(model, pop, batch_edges=edges)


def test_a_block_P_is_resampled_only_with_gradients_on_its_row_blocks():
    """alignment() deletes P's blocks with the gradient batches only when they cover the same rows."""
    from neon_theory.gradients import paired_population_gradients

    model, pop = _model(), _population(5)
    syn = _population(6, shift=0.5)
    P = adam_minibatch(model, pop, Walk(30, blocks=3), generator=generator(7, "adam"))  # blocks of 60, 90, 50 rows
    aligned = paired_population_gradients(model, {"d": pop, "s": syn}, batch_edges=P.row_edges)
    equal = paired_population_gradients(model, {"d": pop, "s": syn}, n_batches=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateCosineWarning)
        rep = alignment(aligned["d"], aligned["s"], P)
        fixed = alignment(aligned["d"], aligned["s"], Diagonal(P.diag))
        misaligned = alignment(equal["d"], equal["s"], P)
    assert not any("treated as fixed" in n for n in rep.notes) and rep.cosine_se != fixed.cosine_se
    assert rep.cosine == fixed.cosine  # the point estimate uses the full P either way
    assert any("treated as fixed" in n for n in misaligned.notes)
