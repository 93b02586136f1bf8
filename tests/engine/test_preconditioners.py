import math

import pytest
import torch
from helpers import F64, mlp_denoiser, random_spd

from neon_theory.gradients import gradient_second_moment, per_sample_gradients
from neon_theory.preconditioners import (
    Dense,
    Diagonal,
    Walk,
    adam_minibatch,
    empirical_fisher_diag,
    exact_inverse,
    identity,
    second_moment_diag,
)
from neon_theory.rng import draw, generator
from toy_models.categorical import CategoricalModel, CategoricalTarget


def _adam(model, source, **kwargs):
    """adam_minibatch with the Walk's fields given as keywords (the Walk is built inside, so its checks are tested too)."""
    walk = {k: kwargs.pop(k) for k in ("batch_size", "passes", "steps", "shuffle", "blocks") if k in kwargs}
    return adam_minibatch(model, source, Walk(**walk), **kwargs)



def test_identity_diagonal_dense_apply_and_inner():
    v = torch.tensor([[1.0, -2.0, 3.0]], dtype=F64)
    d = torch.tensor([0.5, 2.0, 1.0], dtype=F64)
    assert torch.equal(identity().apply(v), v)
    assert torch.allclose(Diagonal(d).apply(v), v * d, rtol=0, atol=1e-15)
    M = random_spd(3, generator(0))
    assert torch.allclose(Dense(M).apply(v), v @ M, rtol=0, atol=1e-14)
    assert float(Dense(M).inner(v[0], v[0])) == pytest.approx(float(v[0] @ M @ v[0]), rel=1e-14, abs=1e-14)
    assert torch.allclose(Diagonal(d).scaled(3.0).matrix(), 3 * torch.diag(d), rtol=0, atol=1e-15)


def test_exact_inverse_inverts_and_rejects_indefinite_matrices():
    M = random_spd(4, generator(1))
    assert torch.allclose(exact_inverse(M).matrix() @ M, torch.eye(4, dtype=F64), rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="damping"):
        exact_inverse(torch.diag(torch.tensor([1.0, 0.0], dtype=F64)))
    assert torch.allclose(
        exact_inverse(torch.diag(torch.tensor([1.0, 0.0], dtype=F64)), damping=1.0).matrix(),
        torch.diag(torch.tensor([0.5, 1.0], dtype=F64)),
        rtol=0,
        atol=1e-15,
    )


def test_adam_minibatch_matches_a_direct_adam_second_moment_ema():
    """Independent re-derivation: two passes, each over a fresh permutation, ⌈500/16⌉ = 32
    minibatches per pass with a partial last one (500 = 31·16 + 4)."""
    model = CategoricalModel(torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=F64))
    x = CategoricalTarget(torch.tensor([0.25] * 4, dtype=F64)).sample(500, generator(0, "x"))
    P = adam_minibatch(model, x, Walk(16, passes=2), beta2=0.9, eps=1e-8, generator=generator(1, "b"))
    g = generator(1, "b")
    v = torch.zeros(3, dtype=F64)
    steps = 0
    for _ in range(2):
        order = draw(torch.randperm, 500, generator=g)
        for start in range(0, 500, 16):
            grad = per_sample_gradients(model, x[order[start : start + 16]]).mean(0)
            v = 0.9 * v + 0.1 * grad**2
            steps += 1
    assert steps == 64
    v_hat = v / (1 - 0.9**steps)
    torch.testing.assert_close(P.diag, 1 / (v_hat.sqrt() + 1e-8), rtol=1e-12, atol=0)


def test_adam_minibatch_depends_on_batch_size_as_mean_plus_variance_over_B():
    """E[g_B²] = ḡ² + σ²/B: larger batches give a larger P (smaller second moment) where σ² > 0."""
    model = CategoricalModel(torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=F64))
    x = CategoricalTarget(torch.tensor([0.25] * 4, dtype=F64)).sample(4000, generator(0, "x"))
    small = adam_minibatch(model, x, Walk(2, passes=2), generator=generator(2, "b"))  # 4000 steps
    large = adam_minibatch(model, x, Walk(256, passes=200), generator=generator(2, "b"))  # 3200 steps
    assert bool((large.diag > small.diag).all())
    m = gradient_second_moment(model, x)
    var = m.value - m.mean**2
    for B, P in ((2, small), (256, large)):
        predicted = 1 / (m.mean**2 + var / B).sqrt()
        torch.testing.assert_close(P.diag, predicted, rtol=0.15, atol=0)  # EMA over 3000+ steps with β₂ = 0.999


def test_second_moment_and_fisher_diag_relations():
    model = mlp_denoiser()
    x = draw(torch.randn, 64, 2, generator=generator(0, "x"), dtype=F64)
    sm = second_moment_diag(model, x, noise_generator=generator(1, "n"), eps=1e-12)
    ef = empirical_fisher_diag(model, x, noise_generator=generator(1, "n"), damping=1e-12)
    # 1/(√v + 1e-12) vs 1/√(v + 1e-12): equal up to a relative 1e-12/√v
    assert torch.allclose(sm.diag, ef.diag.sqrt(), rtol=1e-9, atol=0)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: Diagonal(torch.tensor([1.0, 0.0])), "positive"),
        (lambda: Diagonal(torch.tensor([1.0, math.nan])), "finite"),
        (lambda: Dense(torch.tensor([[1.0, 2.0], [0.0, 1.0]])), "symmetric"),
        (lambda: Dense(-torch.eye(2)), "positive definite"),
        (lambda: identity().scaled(0.0), "c"),
        (lambda: identity(0), "p"),
        (lambda: Diagonal(torch.ones(3)).apply(torch.ones(4)), "last dimension"),
        (lambda: exact_inverse(torch.eye(2), damping=-1.0), "damping"),
    ],
)
def test_invalid_preconditioners_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(batch_size=0), "batch_size"),
        (dict(batch_size=4, passes=0), "passes"),
        (dict(batch_size=4, steps=5), "steps applies to a sampling-law source"),
        (dict(batch_size=4, beta2=1.0), "beta2"),
        (dict(batch_size=4, eps=0.0), "eps"),
        (dict(batch_size=4, generator=None), "generator"),
    ],
)
def test_adam_minibatch_validates(kwargs, match):
    model = CategoricalModel(torch.tensor([0.5, 0.5], dtype=F64))
    kwargs = {"generator": generator(0), **kwargs}
    with pytest.raises(ValueError, match=match):
        _adam(model, torch.zeros(10, dtype=torch.long), **kwargs)


def test_adam_minibatch_on_a_sampling_law_needs_steps():
    model = CategoricalModel(torch.tensor([0.5, 0.5], dtype=F64))
    law = CategoricalTarget(torch.tensor([0.5, 0.5], dtype=F64))
    with pytest.raises(ValueError, match="steps"):
        adam_minibatch(model, law, 4, generator=generator(0))
    assert adam_minibatch(model, law, Walk(4, steps=3), generator=generator(0)).dim == 1
