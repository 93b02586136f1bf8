"""neon_theory.loops: each self-consuming loop form composes its training sets as documented, on the
named streams "loop-sample/g" and "loop-real/g", checked with recording fakes of train, sample,
evaluate and fresh_real whose rows say where they came from."""

import functools

import pytest
import torch
from helpers import F64
from hypothesis import given, settings
from hypothesis import strategies as st

from neon_theory.loops import LOOP_FORMS, LoopSpec, self_consuming_loop
from neon_theory.rng import draw, generator

N_REAL = 7
SEED = 3

# Row tags (column 0): real rows 0, fresh real rows −(g), samples drawn from generation g's model 100 + g.
# Column 1 is a uniform from the stream the rows were drawn on, so the stream can be checked too.


class Recorder:
    """Fake train / sample / evaluate / fresh_real: each model is the generation it was trained for."""

    def __init__(self):
        self.trained = []  # (generation, data, previous model)
        self.sampled = []  # (model, n)
        self.fresh = []  # n
        self.streams = []  # names asked for

    def train(self, data, g, previous):
        self.trained.append((g, data.clone(), previous))
        return g

    def sample(self, model, n, gen):
        u = draw(torch.rand, n, generator=gen, dtype=torch.float32)  # float32 on purpose: the loop casts to real_data
        self.sampled.append((model, n))
        return torch.stack([torch.full((n,), 100.0 + model), u], 1)

    def evaluate(self, model):
        return {"model": model, "rows": int(self.trained[-1][1].shape[0])}

    def fresh_real(self, n, gen):
        self.fresh.append(n)
        return torch.stack([torch.full((n,), -1.0), draw(torch.rand, n, generator=gen, dtype=F64)], 1)

    def stream(self, name):
        self.streams.append(name)
        return generator(SEED, name)


def _real():
    return torch.stack([torch.zeros(N_REAL, dtype=F64), torch.linspace(0, 1, N_REAL, dtype=F64)], 1)


def _run(spec, rec=None, fresh=True):
    rec = Recorder() if rec is None else rec
    records = self_consuming_loop(_real(), spec, train=rec.train, sample=rec.sample, evaluate=rec.evaluate,
                                  fresh_real=rec.fresh_real if fresh else None, streams=rec.stream)
    return records, rec


def _stream_uniforms(name, n):
    return draw(torch.rand, n, generator=generator(SEED, name), dtype=torch.float32).to(F64)


def test_replace_trains_each_generation_on_exactly_the_previous_generations_samples():
    n, G = 5, 3
    records, rec = _run(LoopSpec("replace", G, n))
    assert [g for g, _, _ in rec.trained] == list(range(G + 1))
    assert torch.equal(rec.trained[0][1], _real()) and rec.trained[0][2] is None
    for g in range(1, G + 1):
        _, data, previous = rec.trained[g]
        assert previous == g - 1  # warm start handed the previous generation's model
        assert data.dtype == F64 and data.shape == (n, 2)  # cast to real_data's dtype
        assert bool((data[:, 0] == 100 + (g - 1)).all())  # all rows sampled from generation g − 1, no real rows
        assert torch.equal(data[:, 1], _stream_uniforms(f"loop-sample/{g}", n))
    assert rec.sampled == [(g, n) for g in range(G)]
    assert rec.streams == [f"loop-sample/{g}" for g in range(1, G + 1)] and rec.fresh == []


def test_accumulate_trains_on_the_real_data_and_every_synthetic_set_so_far():
    n, G = 4, 3
    records, rec = _run(LoopSpec("accumulate", G, n))
    for g in range(1, G + 1):
        data = rec.trained[g][1]
        assert data.shape[0] == N_REAL + g * n
        assert torch.equal(data[:N_REAL], _real())  # the real data stay, first
        for j in range(1, g + 1):  # then generation j − 1's samples, on stream loop-sample/j, in order
            block = data[N_REAL + (j - 1) * n : N_REAL + j * n]
            assert bool((block[:, 0] == 100 + (j - 1)).all())
            assert torch.equal(block[:, 1], _stream_uniforms(f"loop-sample/{j}", n))
    assert [r["n_train"] for r in records] == [N_REAL + g * n for g in range(G + 1)]


def test_fresh_mixes_fresh_real_rows_first_then_samples_of_the_previous_generation():
    n, G, frac = 8, 2, 0.25
    records, rec = _run(LoopSpec("fresh", G, n, fresh_fraction=frac))
    k = round(frac * n)
    assert rec.fresh == [k] * G
    for g in range(1, G + 1):
        data = rec.trained[g][1]
        assert data.shape[0] == n
        assert bool((data[:k, 0] == -1).all()) and bool((data[k:, 0] == 100 + (g - 1)).all())
        fresh_u = draw(torch.rand, k, generator=generator(SEED, f"loop-real/{g}"), dtype=F64)
        assert torch.equal(data[:k, 1], fresh_u)
        assert torch.equal(data[k:, 1], _stream_uniforms(f"loop-sample/{g}", n)[: n - k])  # a prefix of the full draw
    assert set(rec.streams) == {f"loop-{s}/{g}" for s in ("sample", "real") for g in range(1, G + 1)}


@pytest.mark.parametrize("frac, n, k", [(0.77, 10, 8), (0.26, 10, 3), (0.05, 10, 0), (0.95, 10, 10)])
def test_fresh_rows_are_the_nearest_integer_share(frac, n, k):
    spec = LoopSpec("fresh", 1, n, fresh_fraction=frac)
    assert spec.n_fresh == k and LoopSpec("replace", 1, n, fresh_fraction=frac).n_fresh == 0
    _, rec = _run(spec)
    assert int((rec.trained[1][1][:, 0] == -1).sum()) == k and rec.trained[1][1].shape[0] == n


def test_fresh_with_fraction_one_trains_on_fresh_real_rows_only_and_zero_is_replace():
    records, rec = _run(LoopSpec("fresh", 2, 6, fresh_fraction=1.0))
    for g in (1, 2):
        assert bool((rec.trained[g][1][:, 0] == -1).all()) and rec.trained[g][1].shape[0] == 6
    _, zero = _run(LoopSpec("fresh", 2, 6, fresh_fraction=0.0), fresh=False)  # no fresh rows: fresh_real not needed
    _, replace = _run(LoopSpec("replace", 2, 6))
    for a, b in zip(zero.trained, replace.trained):
        assert torch.equal(a[1], b[1])


def test_two_forms_on_one_seed_share_the_first_generations_samples():
    n = 6
    _, rep = _run(LoopSpec("replace", 2, n))
    _, acc = _run(LoopSpec("accumulate", 2, n))
    _, fr = _run(LoopSpec("fresh", 2, n, fresh_fraction=0.5))
    first = rep.trained[1][1]
    assert torch.equal(acc.trained[1][1][N_REAL:], first)
    assert torch.equal(fr.trained[1][1][3:], first[: n - 3])


def test_records_carry_generation_n_train_and_the_evaluation():
    n, G = 3, 4
    records, _ = _run(LoopSpec("replace", G, n))
    assert [r["generation"] for r in records] == list(range(G + 1))
    assert [r["n_train"] for r in records] == [N_REAL] + [n] * G
    assert [r["model"] for r in records] == list(range(G + 1))  # evaluate saw each generation's model
    assert all(r["rows"] == r["n_train"] for r in records)


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(sorted(LOOP_FORMS)), st.integers(1, 4), st.integers(1, 12), st.floats(0.0, 1.0))
def test_training_set_sizes_follow_the_form(form, G, n, frac):
    records, rec = _run(LoopSpec(form, G, n, fresh_fraction=frac))
    sizes = [data.shape[0] for _, data, _ in rec.trained]
    assert [r["n_train"] for r in records] == sizes and len(sizes) == G + 1 and sizes[0] == N_REAL
    if form == "accumulate":
        assert sizes[1:] == [N_REAL + g * n for g in range(1, G + 1)]
    else:
        assert sizes[1:] == [n] * G
    spec = LoopSpec(form, G, n, fresh_fraction=frac)
    k = spec.n_fresh
    if form == "fresh":
        assert k == round(frac * n) and abs(k - frac * n) <= 0.5 + 1e-9
    else:
        assert k == 0
    for _, data, _ in rec.trained[1:]:
        n_real_rows = int((data[:, 0] <= 0).sum())
        assert n_real_rows == {"replace": 0, "accumulate": N_REAL, "fresh": k}[form]
    assert rec.fresh == ([k] * G if k else [])


def test_bad_loop_specs_are_refused_naming_the_parameter():
    with pytest.raises(ValueError, match="form"):
        LoopSpec("restart")
    with pytest.raises(ValueError, match="generations"):
        LoopSpec("replace", 0)
    with pytest.raises(ValueError, match="n_synthetic"):
        LoopSpec("replace", 2, 0)
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="fresh_fraction"):
            LoopSpec("fresh", 2, 5, fresh_fraction=bad)


def test_a_fresh_loop_without_fresh_real_and_a_bad_spec_are_refused():
    rec = Recorder()
    with pytest.raises(ValueError, match="fresh_real"):
        self_consuming_loop(_real(), LoopSpec("fresh", 2, 4, fresh_fraction=0.5), train=rec.train, sample=rec.sample,
                            evaluate=rec.evaluate, streams=functools.partial(generator, SEED))
    assert rec.trained == []  # refused before training generation 0
    with pytest.raises(ValueError, match="spec"):
        self_consuming_loop(_real(), {"form": "replace"}, train=rec.train, sample=rec.sample, evaluate=rec.evaluate,
                            streams=functools.partial(generator, SEED))
    with pytest.raises(ValueError, match="real_data"):
        self_consuming_loop([[0.0]], LoopSpec(), train=rec.train, sample=rec.sample, evaluate=rec.evaluate,
                            streams=functools.partial(generator, SEED))
