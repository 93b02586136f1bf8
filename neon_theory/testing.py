"""Checks and hypothesis strategies for a user's own tests: is my model, my sampler, right?

* :func:`assert_model_contract` runs a model through everything the engine will ask of it
  (shapes, finiteness, gradients, the generator's role, determinism) and fails with one
  message naming what is wrong;
* :func:`assert_quasi_random` checks the optional uniform-driven methods that ``sampling="rqmc"``
  needs (:class:`~neon_theory.contracts.QuasiRandomModel`, :class:`~neon_theory.contracts.QuasiRandomLaw`);
* :func:`assert_categorical_sampler` checks logits after temperature / top-k / top-p
  (:func:`~neon_theory.samplers.categorical_logits`, or the user's own implementation)
  against what the spec means;
* :func:`sampler_specs`, :func:`categorical_specs` and :func:`logits` are hypothesis
  strategies (hypothesis is imported when they are called; it is a test dependency).

Example, in a user's test file::

    from hypothesis import given
    from neon_theory.testing import assert_categorical_sampler, assert_model_contract, categorical_specs, logits

    def test_my_model_plugs_in():
        assert_model_contract(MyModel(), n=16)

    @given(logits(), categorical_specs())
    def test_my_truncation(z, spec):
        assert_categorical_sampler(z, spec, my_truncate(z, spec))
"""

from __future__ import annotations

import torch
from torch import Tensor

from .contracts import check_model
from .rng import generator as named_generator
from .samplers import Chain, Guidance, SamplerSpec, ScoreScale, Steps, Temperature, TopK, TopP, categorical_logits

__all__ = ["assert_categorical_sampler", "assert_model_contract", "categorical_specs", "logits", "sampler_specs"]


class ContractError(AssertionError):
    """A model or sampler does not do what the engine relies on (the message says what)."""


def _fail(what: str) -> None:
    raise ContractError(what)


def _rows(noise) -> list[int]:
    if noise is None:
        return []
    if isinstance(noise, Tensor):
        return [noise.shape[0]]
    values = noise.values() if isinstance(noise, dict) else noise
    return [r for v in values for r in _rows(v)]


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, Tensor):
        return isinstance(b, Tensor) and a.shape == b.shape and bool(torch.equal(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))


def assert_model_contract(model, *, n: int = 8, seed: int = 0, sampler: SamplerSpec | None = None) -> None:
    """Fail (:class:`ContractError`, an ``AssertionError``) unless ``model`` does what the engine needs.

    Checked, on ``n`` rows drawn from the model itself with ``sampler``:

    * it has ``module`` (an ``nn.Module`` with trainable parameters), ``draw_noise``,
      ``per_example_loss`` and ``sample``;
    * ``sample(n, sampler, g)`` returns ``n`` finite rows, the same rows for the same generator
      state, and other rows for another state (randomness comes from the generator only);
    * ``draw_noise(n, g)`` has ``n`` rows in every tensor and is reproducible the same way;
    * ``per_example_loss(x, noise)`` has shape (n,), is finite, depends on each row only (a
      row's loss does not change when the other rows do), and its mean has a non-zero
      gradient with respect to some parameter.
    """
    try:
        check_model(model)
    except ValueError as e:
        _fail(str(e))
    params = [p for p in model.module.parameters() if p.requires_grad]
    if not params:
        _fail("model.module has no trainable parameters: θ must live in it")

    def draws(stream: str):
        g = named_generator(seed, stream)
        return model.sample(n, sampler, g), model.draw_noise(n, g)

    x, noise = draws("contract")
    if not isinstance(x, Tensor) or x.ndim == 0 or x.shape[0] != n:
        _fail(f"sample(n={n}, ...) must return a tensor with {n} rows; got {getattr(x, 'shape', type(x).__name__)}")
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        _fail("sample(...) returned non-finite values")
    x_again, noise_again = draws("contract")
    if not torch.equal(x, x_again):
        _fail("sample(...) gave other rows for the same generator state: its randomness must come from the generator argument only")
    if not _same(noise, noise_again):
        _fail("draw_noise(...) gave other noise for the same generator state: it must draw from the generator argument only")
    if any(r != n for r in _rows(noise)):
        _fail(f"draw_noise(n={n}, ...) must give every tensor {n} rows; got rows {_rows(noise)}")
    x_other, _ = draws("contract-other")
    if torch.equal(x, x_other) and n > 1:
        _fail("sample(...) gave the same rows for two different generators: it ignores the generator argument")
    loss = model.per_example_loss(x, noise)
    if not isinstance(loss, Tensor) or tuple(loss.shape) != (n,):
        _fail(f"per_example_loss(x, noise) must have shape ({n},), one loss per row; got {getattr(loss, 'shape', type(loss).__name__)}")
    if not bool(torch.isfinite(loss).all()):
        _fail("per_example_loss(...) is not finite on the model's own samples")
    if n > 1:  # row 0's loss must not see the other rows (batch statistics would bias every estimate)
        from .contracts import noise_rows

        swapped = torch.cat([x[:1], x_other[1:]])
        alone = model.per_example_loss(swapped, noise)
        if not torch.allclose(alone[0], loss[0], rtol=1e-5, atol=1e-6):
            _fail("per_example_loss: row 0's loss changed when the other rows did; each row's loss must depend on that row only")
        single = model.per_example_loss(x[:1], noise_rows(noise, slice(0, 1)))
        if not torch.allclose(single.reshape(-1)[0], loss[0], rtol=1e-5, atol=1e-6):
            _fail("per_example_loss: row 0's loss differs when it is evaluated alone")
    mean = loss.mean()
    grads = torch.autograd.grad(mean, params, allow_unused=True) if mean.requires_grad else [None]
    if all(g is None or float(g.abs().max()) == 0.0 for g in grads):
        _fail("per_example_loss(...) has a zero gradient in every parameter: it must be differentiable in model.module's parameters")


#: the multiple of the two-sample standard error within which a uniform-driven mean must match
#: the generator-driven one (a genuine mismatch of law shows as many SEs at n = 4096)
LAW_MATCH_K = 5.0


def _columns(x) -> list[Tensor]:
    """The numeric columns of a draw (a tensor, or a tuple / dict of tensors), each (n,) in float64."""
    if x is None:
        return []
    if isinstance(x, Tensor):
        flat = x.reshape(x.shape[0], -1).double()
        return [flat[:, j] for j in range(flat.shape[1])]
    values = x.values() if isinstance(x, dict) else x
    return [c for v in values for c in _columns(v)]


def _same_law(what: str, from_uniform, from_generator) -> None:
    """Every column's mean from uniforms within :data:`LAW_MATCH_K` two-sample SEs of the generator's."""
    a, b = _columns(from_uniform), _columns(from_generator)
    if len(a) != len(b):
        _fail(f"{what}: the uniform-driven draw has {len(a)} columns, the generator's {len(b)}")
    for j, (u, g) in enumerate(zip(a, b)):
        se = float((u.var() / u.numel() + g.var() / g.numel()).sqrt())
        gap = abs(float(u.mean() - g.mean()))
        if gap > LAW_MATCH_K * max(se, 1e-12):
            _fail(f"{what}: column {j} has mean {float(u.mean()):.4g} from uniforms but {float(g.mean()):.4g} from the generator "
                  f"({gap / max(se, 1e-12):.1f} SE apart, more than {LAW_MATCH_K:g}): the two do not draw the same law")


def assert_quasi_random(obj, *, sampler: SamplerSpec | None = None, n: int = 4096, seed: int = 0) -> None:
    """Fail (:class:`ContractError`) unless ``obj`` meets :class:`~neon_theory.contracts.QuasiRandomModel`
    (a model) or :class:`~neon_theory.contracts.QuasiRandomLaw` (a data law).

    Checked on ``n`` uniforms: the dimensions are positive integers; the draws from uniforms have
    ``n`` finite rows, the shape of the generator-driven draws, and are a deterministic function of
    u; and each column's mean agrees with the generator-driven draws' within :data:`LAW_MATCH_K`
    two-sample standard errors (same law).  For a model whose loss draws noise, the same for
    ``noise_from_uniform`` against ``draw_noise``.
    """
    from .contracts import QuasiRandomLaw, QuasiRandomModel, QuasiRandomNoise

    g = named_generator(seed, "quasi-random")
    u_gen = torch.Generator().manual_seed(named_generator(seed, "quasi-random/u").initial_seed())

    def uniforms(dim: int) -> Tensor:
        return torch.rand(n, dim, generator=u_gen, dtype=torch.float64)

    def check_draws(what: str, draw, reference, dim: int) -> None:
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
            _fail(f"{what}: the number of uniforms per row must be a positive int; got {dim!r}")
        u = uniforms(dim)
        x, again = draw(u), draw(u.clone())
        if not _same(x, again):
            _fail(f"{what}: two calls with the same uniforms gave different draws (it must be a function of u only)")
        if any(r != n for r in _rows(x)) or _rows(x) != _rows(reference):
            _fail(f"{what}: expected {n} rows shaped like the generator's draws; got rows {_rows(x)}")
        if not all(bool(torch.isfinite(c).all()) for c in _columns(x)):
            _fail(f"{what}: non-finite values")
        _same_law(what, x, reference)

    if isinstance(obj, QuasiRandomModel):
        check_model(obj)
        with torch.no_grad():
            check_draws("sample_from_uniform(u, sampler)", lambda u: obj.sample_from_uniform(u, sampler), obj.sample(n, sampler, g),
                        obj.sample_uniform_dim(sampler))
        if obj.draw_noise(1, torch.Generator().manual_seed(0)) is not None:
            if not isinstance(obj, QuasiRandomNoise):
                _fail("the loss draws noise, so the model needs noise_dim and noise_from_uniform(u) too")
            check_draws("noise_from_uniform(u)", obj.noise_from_uniform, obj.draw_noise(n, g), obj.noise_dim)
    elif isinstance(obj, QuasiRandomLaw):
        check_draws("sample_from_uniform(u)", obj.sample_from_uniform, obj.sample(n, g), obj.uniform_dim())
    else:
        _fail(f"{type(obj).__name__} is neither a QuasiRandomModel (sample_uniform_dim, sample_from_uniform(u, sampler)) "
              "nor a QuasiRandomLaw (uniform_dim, sample_from_uniform(u))")


def assert_categorical_sampler(logits: Tensor, spec: SamplerSpec | None, truncated: Tensor | None = None) -> None:
    """Fail unless ``truncated`` (default: :func:`categorical_logits` of ``logits``) are the logits of
    ``spec`` applied to ``logits`` (shape (..., V)): a proper law on the kept tokens, with

    * temperature T: probabilities ∝ p^(1/T) on every token;
    * top-k: the k most probable tokens kept (ties kept together), with p renormalised;
    * top-p: the smallest most-probable set with mass ≥ p kept, with the tokens tied with its least
      probable one, and p renormalised;
    * a :class:`~neon_theory.samplers.Chain`: each part applied in order.
    """
    got = categorical_logits(logits, spec) if truncated is None else truncated
    if tuple(got.shape) != tuple(logits.shape):
        _fail(f"truncated logits must keep the shape {tuple(logits.shape)}; got {tuple(got.shape)}")
    q = torch.softmax(got.double(), -1)
    if not bool(torch.isfinite(q).all()) or not torch.allclose(q.sum(-1), torch.ones_like(q.sum(-1)), atol=1e-9):
        _fail("the truncated logits are not a probability law (softmax rows must sum to 1)")
    kept = torch.isfinite(got)
    ref = _reference(logits.double(), spec, kept)
    if ref is None:
        _fail(f"{spec}: kept {int(kept.sum())} token(s); the spec keeps a different set")
    if not torch.allclose(q, ref, rtol=1e-6, atol=1e-9):
        _fail(f"{spec}: the kept tokens' probabilities differ from the spec's by up to {float((q - ref).abs().max()):.3g}")


#: a top-p boundary this close to a token's cumulative mass may go either way (float sums in another order)
_BOUNDARY = 1e-12


def _reference(z: Tensor, spec: SamplerSpec | None, kept: Tensor) -> Tensor | None:
    """An independent, sort-free restatement of each spec on probabilities: the law ``spec`` gives,
    or ``None`` when ``kept`` (the tokens the checked implementation kept) is not the spec's set.
    For a chain each part is applied to the previous part's law."""
    p = torch.softmax(z, -1)
    parts = spec.specs if isinstance(spec, Chain) else () if spec is None else (spec,)
    alive = torch.ones_like(kept)
    for part in parts:
        if isinstance(part, Temperature):
            p = torch.softmax(torch.log(p) / part.density_power, -1)
            continue
        # each token's mass of the tokens strictly more probable than it, and of those at least as probable
        above = (p.unsqueeze(-2) * (p.unsqueeze(-2) > p.unsqueeze(-1))).sum(-1)
        if isinstance(part, TopK):
            rank = (p.unsqueeze(-2) > p.unsqueeze(-1)).sum(-1)  # tokens strictly more probable: ties share a rank
            must = may = rank < part.k
        elif isinstance(part, TopP):
            must, may = (above < part.p - _BOUNDARY, above < part.p + _BOUNDARY) if part.p < 1 else (alive, alive)
        else:
            raise ValueError(f"spec must be a Temperature, TopK, TopP, a Chain of them, or None; got {type(part).__name__}")
        must, may = must & alive, may & alive
        chosen = kept & alive if part is parts[-1] or not bool((must != may).any()) else must
        if not bool((chosen >= must).all() and (chosen <= may).all()):
            return None
        alive = chosen
        p = torch.where(alive, p, torch.zeros_like(p))
        p = p / p.sum(-1, keepdim=True)
    if not torch.equal(alive, kept):
        return None
    return p


# ---- hypothesis strategies -----------------------------------------------------------------


def _st():
    try:
        from hypothesis import strategies
    except ImportError:  # a test dependency, not the engine's
        raise ImportError("the strategies of neon_theory.testing need hypothesis: pip install hypothesis") from None
    return strategies


def categorical_specs(vocab_size: int = 8):
    """Temperatures T in [0.2, 5], top-k with k in [1, vocab_size], top-p with p in (0.05, 1], and chains of two."""
    st = _st()
    single = st.one_of(
        st.floats(0.2, 5.0).map(Temperature),
        st.integers(1, vocab_size).map(TopK),
        st.floats(0.05, 1.0).map(TopP),
    )
    return st.one_of(single, st.tuples(single, single).map(Chain))


def sampler_specs():
    """Every kind of sampler spec, each at valid values: temperatures in both conventions, top-k,
    top-p, score scales ζ, guidance γ, and solver steps (with the solver)."""
    st = _st()
    return st.one_of(
        st.floats(0.05, 20.0).map(Temperature),
        st.floats(0.2, 4.0).map(lambda t: Temperature(t, "std")),
        st.integers(1, 64).map(TopK),
        st.floats(0.01, 1.0).map(TopP),
        st.floats(0.1, 5.0).map(ScoreScale),
        st.floats(0.0, 8.0).map(Guidance),
        st.builds(Steps, st.integers(1, 100), st.sampled_from(("euler", "heun", "midpoint", "ddim"))),
    )


def logits(batch: int = 3, vocab_size: int = 8, scale: float = 6.0):
    """Float64 logits of shape (batch, vocab_size), entries on a 0.1 grid in [−scale, scale]: equal
    logits (ties) are common, and unequal ones differ by far more than round-off, so a check on
    probabilities and one on logits agree on which tokens tie."""
    st = _st()
    steps = int(round(10 * scale))
    entry = st.integers(-steps, steps).map(lambda i: i / 10)
    return st.lists(entry, min_size=batch * vocab_size, max_size=batch * vocab_size).map(
        lambda v: torch.tensor(v, dtype=torch.float64).reshape(batch, vocab_size)
    )
