"""Devices: resolve_device, accumulator precision, the compensated fallback, and an engine that keeps
every tensor it makes on the parameters' device.

Without a GPU, two stand-ins make "on the parameters' device" checkable on the CPU:

* the default device set to ``meta`` around a CPU model: any tensor the engine creates without
  naming the parameters' device lands on meta, where it either fails (no values) or leaks into
  the result;
* parameters moved to ``meta`` with CPU data and CPU generators: the results must follow θ.

With NEON_TEST_DEVICE=cuda the ``device`` tests run the engine on the GPU itself.
"""

import importlib
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from neon_theory.device import RunningSum, accumulator_dtype, module_device, resolve_device, to_accumulator
from neon_theory.rng import draw, generator, multinomial
from neon_theory.samplers import Chain, Guidance, ScoreScale, Steps, Temperature
from toy_models._conditional import TimeMLP
from toy_models.autoregressive import ARGaussianModel
from toy_models.categorical import CategoricalModel, CategoricalTarget
from toy_models.diffusion import DiffusionModel, ExactScoreDiffusion, Schedule
from toy_models.flow import FlowModel
from toy_models.gaussian import GaussianModel, GaussianTarget, exact_alignment
from toy_models.gmm import two_class
from toy_models.tokens import MLPAR, MarkovChainTarget, TabularAR

G, PC, AL, NE, M = (importlib.import_module(f"neon_theory.{m}") for m in ("gradients", "preconditioners", "alignment", "neon", "metrics"))
F64 = torch.float64
EPS32 = torch.finfo(torch.float32).eps


# ---- resolve_device ----------------------------------------------------------------------


def test_resolve_device_names():
    assert resolve_device("cpu") == resolve_device(torch.device("cpu")) == torch.device("cpu")
    on_this_machine = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("auto") == resolve_device(None) == resolve_device() == on_this_machine


@pytest.mark.parametrize("cuda", [False, True])
def test_auto_picks_cuda_only_when_present(monkeypatch, cuda):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: int(cuda))
    assert resolve_device("auto") == torch.device("cuda" if cuda else "cpu")
    if cuda:
        assert resolve_device("cuda:0") == torch.device("cuda", 0)
        with pytest.raises(ValueError, match=r"has 1 CUDA device\(s\)"):
            resolve_device("cuda:1")


@pytest.mark.parametrize("name", ["tpu", "gpu", "meta", "", "cuda:x", "cpu cuda", 1.5])
def test_resolve_device_rejects_other_names(name):
    with pytest.raises(ValueError, match=r"^device must be one of 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'"):
        resolve_device(name)


def test_resolve_device_refuses_an_absent_backend(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for name in ("cuda", "cuda:0"):
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device(name)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ValueError, match="MPS is not available"):
        resolve_device("mps")


# ---- accumulator precision and the compensated fallback ---------------------------------


def test_accumulator_dtype_is_float64_unless_the_device_lacks_it():
    for name in ("cpu", "cuda", "cuda:1", "meta", torch.device("cpu")):
        assert accumulator_dtype(name) == F64
    assert accumulator_dtype("mps") == torch.float32
    t = to_accumulator(torch.ones(2, dtype=torch.float16, device="meta"))
    assert t.dtype == F64 and t.device.type == "meta"


def test_module_device_follows_the_parameters():
    assert module_device(torch.nn.Linear(2, 2, device="cpu")) == torch.device("cpu")
    assert module_device(torch.nn.Linear(2, 2, device="meta")).type == "meta"
    with torch.device("meta"):  # no parameters: the default device
        assert module_device(torch.nn.Identity()).type == "meta"


def test_running_sum_in_float64_is_plain_addition(device):
    xs = draw(torch.randn, 50, 3, generator=generator(0), dtype=F64, device=device)
    acc, plain = RunningSum(3, device), torch.zeros(3, dtype=F64, device=device)
    for x in xs:
        acc.add(x)
        plain += x
    assert acc.total.dtype == F64 and acc._carry is None
    assert torch.equal(acc.total, plain)


def _sum32(values, compensated: bool) -> float:
    acc = RunningSum((), "cpu", dtype=torch.float32)
    plain = torch.zeros((), dtype=torch.float32, device="cpu")
    for v in torch.tensor(values, dtype=torch.float32, device="cpu"):
        acc.add(v)
        plain += v
    return float(acc.total if compensated else plain)


finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False, allow_subnormal=False, min_value=-(2.0**100), max_value=2.0**100)


@given(st.lists(finite32, min_size=1, max_size=300))
def test_compensated_float32_sum_is_within_kahans_bound(values):
    # Kahan: |ŝ − s| ≤ (2ε + O(nε²)) Σ|x|; n ≤ 300 keeps the O(nε²) term below 0.1ε
    exact = math.fsum(values)
    assert abs(_sum32(values, True) - exact) <= 2.1 * EPS32 * math.fsum(abs(v) for v in values)


def test_compensation_recovers_what_plain_float32_drops():
    values = [1.0] + [2.0**-25] * 4096  # each tiny term is below half an ulp of 1
    exact = 1.0 + 2.0**-13
    assert _sum32(values, False) == 1.0  # plain float32 loses all of them
    assert abs(_sum32(values, True) - exact) <= 2.0**-23  # compensated: within one ulp


def test_running_sum_adds_into_one_row(device):
    for dtype in (F64, torch.float32):
        acc = RunningSum((3, 2), device, dtype=dtype)
        acc.add(torch.ones(2, device=device), 1)
        acc.add(torch.ones(2, device=device), 1)
        assert torch.equal(acc.total, torch.tensor([[0, 0], [2, 2], [0, 0]], dtype=dtype, device=device))


# ---- random streams: drawn where the generator lives ------------------------------------


def test_draw_uses_the_generator_and_lands_on_the_device(device):
    ref = torch.randn(4, 3, generator=generator(5, "n"), dtype=F64, device="cpu")
    out = draw(torch.randn, 4, 3, generator=generator(5, "n"), dtype=F64, device=device)
    assert out.device == device and torch.equal(out.cpu(), ref)
    probs = torch.tensor([0.2, 0.5, 0.3], dtype=F64, device=device)
    k = multinomial(probs, 20, generator=generator(5, "k"), replacement=True)
    assert k.device == device
    assert torch.equal(k.cpu(), torch.multinomial(probs.cpu(), 20, True, generator=generator(5, "k")))
    g_meta, g_cpu = generator(6), generator(6)  # the stream advances the same wherever the result goes
    draw(torch.rand, 7, generator=g_meta, device="meta")
    torch.rand(7, generator=g_cpu, device="cpu")
    assert torch.equal(g_meta.get_state(), g_cpu.get_state())


# ---- the engine on the session's device (a real GPU under NEON_TEST_DEVICE=cuda) --------


def _gaussian_pair(device):
    cov = torch.tensor([[1.0, 0.3], [0.3, 0.8]], dtype=F64, device=device)
    target = GaussianTarget(torch.tensor([0.3, -0.2], dtype=F64, device=device), cov)
    model = GaussianModel(torch.tensor([0.1, 0.0], dtype=F64, device=device), torch.tensor([[1.2, 0.1], [0.1, 0.6]], dtype=F64, device=device))
    return target, model


def _on(t, device, dtype=F64) -> bool:
    return t.device == device and t.dtype == dtype


def _align_and_merge(target, model):
    """The engine end to end with CPU generators: gradients, a resampled Adam P, alignment, self-training and a merge."""
    x = target.sample(256, generator(1, "x"))
    P = PC.adam_minibatch(model, x, PC.Walk(32, blocks=4), generator=generator(1, "P"))
    est = G.paired_population_gradients(model, {"real": x, "syn": G.ModelLaw(model, Temperature(0.6))}, generator=generator(1, "g"), batch_edges=P.row_edges)
    report = AL.alignment(est["real"], est["syn"], P, alpha=0.1, hessian=G.population_hessian(model, x), dominant_share=1.0)
    st = NE.self_train(model, model.sample(128, Temperature(0.6), generator(1, "S")), steps=5, lr=0.01, batch_size=32, generator=generator(1, "t"))
    return x, P, est, report, st, NE.merge(model.module.state_dict(), st.state_dict, 0.5)


def test_engine_results_live_on_the_parameters_device(device):
    target, model = _gaussian_pair(device)
    x, P, est, report, st, merged = _align_and_merge(target, model)
    assert all(_on(t, device) for e in est.values() for t in (e.mean, e.se, e.batch_means, e.batch_weights))
    assert _on(P.diag, device) and _on(P.block_sums, device) and _on(P.block_weights, device)
    assert _on(G.per_sample_gradients(model, x[:5]), device) and _on(G.gradient_second_moment(model, x).value, device)
    assert _on(G.hessian_vector_product(model, x, torch.ones(5, dtype=F64, device="cpu")), device)
    assert _on(PC.second_moment_diag(model, x).diag, device) and _on(PC.exact_inverse(model.fisher()).P, device)
    assert math.isfinite(report.s) and report.s_se > 0 and not any("treated as fixed" in n for n in report.notes)  # P resampled
    assert all(_on(v, device) for v in st.state_dict.values()) and _on(st.losses, device)
    assert all(_on(v, device) for k, v in merged.items() if v.is_floating_point())
    assert math.isfinite(exact_alignment(target, model, Temperature(0.5), PC.identity(), alpha=0.1).s)


def test_cpu_streams_give_the_same_numbers_on_every_device(device):
    # the named streams are CPU generators: a model on another device sees the same draws
    on_device = _align_and_merge(*_gaussian_pair(device))
    with torch.device("cpu"):
        on_cpu = _align_and_merge(*_gaussian_pair("cpu"))
    torch.testing.assert_close(on_device[0].cpu(), on_cpu[0], rtol=1e-12, atol=1e-12)  # the same draws (test_draw: bit for bit)
    for k in ("real", "syn"):
        torch.testing.assert_close(on_device[2][k].mean.cpu(), on_cpu[2][k].mean, rtol=1e-9, atol=1e-12)
    assert on_device[3].s == pytest.approx(on_cpu[3].s, rel=1e-7)


# ---- nothing on a hard-coded or default device (CPU stand-ins for a second device) ------


def _cpu_cases():
    """name -> call, for a CPU model whose calls must create nothing on the default device."""
    with torch.device("cpu"):
        torch.manual_seed(0)
        target, model = _gaussian_pair("cpu")
        x = target.sample(200, generator(2, "x"))
        P = PC.adam_minibatch(model, x, PC.Walk(25, blocks=4), generator=generator(2, "P"))
        est = G.paired_population_gradients(model, {"r": x, "s": x.flip(0)}, batch_edges=P.row_edges)
        st = NE.self_train(model, x, steps=2, lr=0.01, optimizer="sgd", generator=generator(2, "t"))
        dm = DiffusionModel(TimeMLP(2, 8, 1, num_classes=2), Schedule("cosine", 30), grid="own")
        fm = FlowModel(TimeMLP(2, 8, 1, num_classes=2))
        labelled = torch.cat([x[:32], (torch.arange(32) % 2)[:, None].double()], 1)
        exact_score = ExactScoreDiffusion(two_class(), Schedule("cosine", 30))
        chain, tokens = MarkovChainTarget.random(3, 3, generator(2, "mc")), MLPAR(3, 3, 4)
        cat, cat_target = CategoricalModel(torch.tensor([0.5, 0.3, 0.2], dtype=F64)), CategoricalTarget(torch.tensor([0.6, 0.3, 0.1], dtype=F64))
    fd = lambda m, g: M.frechet_distance_from_samples(m.sample(40, None, g), target.mean, target.cov)  # noqa: E731
    ones = torch.ones(5, dtype=F64, device="cpu")
    theory = lambda: AL.theory_quantities(est["r"].mean, model.fisher(), est["s"].mean, model.fisher(), P)  # noqa: E731
    base = model.module.state_dict()
    return {
        "paired gradients": lambda: G.paired_population_gradients(
            model, {"r": target, "s": G.ModelLaw(model, None)}, 100, generator=generator(3), n_batches=4
        ),
        "per-sample (vmap, loop)": lambda: (G.per_sample_gradients(model, x[:4]), G.per_sample_gradients(model, x[:4], method="loop")),
        "second moment, Hessian, HVP": lambda: (
            G.gradient_second_moment(model, x, diagonal=False).value,
            G.population_hessian(model, x),
            G.hessian_vector_product(model, x, ones),
        ),
        "adam (shuffled, in order, law)": lambda: (
            PC.adam_minibatch(model, x, 32, generator=generator(4)).diag,
            PC.adam_minibatch(model, x, PC.Walk(32, shuffle=False)).diag,
            PC.adam_minibatch(model, target, PC.Walk(8, steps=3), generator=generator(4)).diag,
        ),
        "adam blocks, Fisher diag, inverse": lambda: (
            P.block_sums,
            P.matrix(),
            PC.empirical_fisher_diag(model, target, 50, generator=generator(5)).diag,
            PC.exact_inverse(model.fisher(), damping=0.1).P,
        ),
        "alignment (resampled P, Hessian, theory)": lambda: AL.alignment(est["r"], est["s"], P, alpha=0.1, hessian=model.fisher(), theory=theory()).s_ci,
        "self-train (sgd), merge, plane, w-sweep": lambda: (
            NE.self_train(model, x, steps=2, lr=0.01, batch_size=50, optimizer="sgd", generator=generator(6), record_trajectory=True).trajectory,
            NE.merge(base, st.state_dict, 0.7),
            NE.plane_state(base, st.state_dict, st.state_dict, 0.5, 0.5),
            NE.w_sweep(model, st.state_dict, [0.0, 1.0], fd).values,
        ),
        "gaussian family": lambda: (
            model.sample(4, Temperature(0.5), generator(7)),
            target.sample(4, generator(7)),
            exact_alignment(target, model, Temperature(0.5), PC.identity()).s,
        ),
        "diffusion and flow": lambda: (
            dm.sample(4, Chain((Steps(3, "ddim", eta=0.5), Guidance(2.0), ScoreScale(1.2))), generator(8)),
            dm.sample(4, Steps(3, "heun"), generator(8)),
            G.population_gradient(dm, labelled, noise_generator=generator(8), n_batches=4).mean,
            fm.sample(4, Chain((Steps(2, "midpoint"), Guidance(1.5))), generator(8)),
            G.population_gradient(fm, labelled, noise_generator=generator(8), n_batches=4).mean,
            exact_score.sample(4, Steps(2, "heun"), generator(8), labels=torch.tensor([0, 1, 0, 1], device="cpu")),
        ),
        "tokens and categorical": lambda: (
            chain.sample(4, generator(9)),
            tokens.sample(4, Temperature(0.5), generator(9)),
            G.population_gradient(tokens, chain.support()).mean,
            cat.sample(4, None, generator(9)),
            G.population_gradient(cat, cat_target.support()).mean,
        ),
        "metrics": lambda: (
            M.gaussian_entropy(target.cov),
            M.wasserstein2_empirical(x[:8], x[8:16]),
            M.bures_wasserstein(target.mean, target.cov, model.mean, model.cov),
        ),
    }


def _devices(out) -> set:
    """Device types of every tensor in a nested result (tuples, lists, dicts, dataclasses)."""
    if isinstance(out, torch.Tensor):
        return {out.device.type}
    if hasattr(out, "__dataclass_fields__"):
        out = vars(out)
    if isinstance(out, dict):
        out = list(out.values())
    return set().union(*(_devices(v) for v in out)) if isinstance(out, (tuple, list)) else set()


CASES = _cpu_cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_engine_creates_nothing_on_the_default_device(name):
    with torch.device("meta"):  # anything made without naming θ's device lands on meta and breaks or leaks
        out = CASES[name]()
    assert _devices(out) <= {"cpu"}


def test_results_follow_parameters_moved_off_the_data_device():
    with torch.device("cpu"):
        target, model = _gaussian_pair("cpu")
        x = target.sample(64, generator(1))
        dm = DiffusionModel(TimeMLP(2, 8, 1), Schedule("cosine", 20))
        fm, ar = FlowModel(TimeMLP(2, 8, 1)), ARGaussianModel()
        tab, chain = TabularAR(3, 2), MarkovChainTarget.random(3, 2, generator(1))
    for m in (model, dm, fm, ar, tab):
        m.module.to("meta")  # θ elsewhere; data, targets and generators stay on the CPU
    est = G.paired_population_gradients(model, {"x": x, "law": target, "q": G.ModelLaw(model, None)}, 64, generator=generator(2), n_batches=4)
    assert all(_on(t, torch.device("meta")) for e in est.values() for t in (e.mean, e.se, e.batch_weights))
    meta = [G.per_sample_gradients(model, x[:3]), G.population_hessian(model, x), G.gradient_second_moment(model, x).value]
    meta += [G.population_gradient(tab, chain.support()).mean, *dm.draw_noise(3, generator(3)), *fm.draw_noise(3, generator(3))]
    meta += [dm.sample(3, Steps(3, "ddim", eta=1.0), generator(3)), fm.sample(3, Steps(2, "heun"), generator(3)), ar.sample(3, None, generator(3))]
    meta += [m.per_example_loss(x[:3], m.draw_noise(3, generator(4))) for m in (dm, fm, ar)]
    assert all(t.device.type == "meta" for t in meta)


def test_default_device_installs_no_function_mode_for_the_device_already_default():
    """A torch.device context sees every torch call (a fifth of a small MLP's step on one CPU
    thread); default_device skips it when it would change nothing, and not otherwise."""
    from torch.overrides import _get_current_function_mode_stack

    from neon_theory.device import default_device

    here = torch.get_default_device()
    before = len(_get_current_function_mode_stack())
    with default_device(here):
        assert len(_get_current_function_mode_stack()) == before
        assert torch.zeros(1).device.type == here.type
    with default_device("meta"):
        assert len(_get_current_function_mode_stack()) == before + 1
        assert torch.zeros(1).device.type == "meta"
    assert torch.zeros(1).device.type == here.type


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_add_parts_equals_adding_the_concatenation(dtype):
    """The population gradient adds each parameter's float32 gradient into its slice of a float64
    row: the same sum, bit for bit, as the float64 concatenation; a missing part is zeros; the
    compensated (float32) sum takes the whole-row path."""
    from neon_theory.device import RunningSum
    from neon_theory.rng import draw

    g = torch.Generator().manual_seed(5)
    parts = [draw(torch.randn, 3, 4, generator=g), draw(torch.randn, 4, generator=g), None, draw(torch.randn, 2, generator=g)]
    sizes = [12, 4, 5, 2]
    whole = torch.cat([torch.zeros(5) if p is None else p.reshape(-1) for p, n in zip(parts, sizes)])
    a, b = RunningSum((3, 23), "cpu", dtype), RunningSum((3, 23), "cpu", dtype)
    for _ in range(3):
        a.add_parts(parts, sizes, 1)
        b.add(whole, 1)
    assert torch.equal(a.total, b.total) and bool((a.total[0] == 0).all()) and bool((a.total[1, 16:21] == 0).all())
    full = [p for p in parts if p is not None]
    c, d = RunningSum((2, 18), "cpu", dtype), RunningSum((2, 18), "cpu", dtype)
    c.add_parts(full, [12, 4, 2], 0)
    d.add(torch.cat([p.reshape(-1) for p in full]), 0)
    assert torch.equal(c.total, d.total)
