import dataclasses
import math

import numpy as np
import pytest
import torch
from helpers import hand_sampler_law
from hypothesis import given
from hypothesis import strategies as st

from neon_theory.samplers import (
    Chain,
    Guidance,
    ScoreScale,
    Sharpening,
    Steps,
    Temperature,
    TopK,
    TopP,
    categorical_logits,
    density_to_std_temperature,
    std_to_density_temperature,
)
from neon_theory.testing import sampler_specs


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: Temperature(0.0), "temperature"),
        (lambda: Temperature(-1.0), "temperature"),
        (lambda: Temperature(math.nan), "temperature"),
        (lambda: Temperature(math.inf), "temperature"),
        (lambda: Temperature(True), "temperature"),
        (lambda: Temperature("1"), "temperature"),
        (lambda: Temperature(1.0, "kelvin"), "convention"),
        (lambda: TopK(0), "k"),
        (lambda: TopK(2.5), "k"),
        (lambda: TopP(0.0), "p"),
        (lambda: TopP(1.01), "p"),
        (lambda: TopP(math.nan), "p"),
        (lambda: ScoreScale(0.0), "zeta"),
        (lambda: ScoreScale(1.1, where="everywhere"), "where"),
        (lambda: Guidance(-0.5), "gamma"),
        (lambda: Guidance(math.nan), "gamma"),
        (lambda: Steps(0), "steps"),
        (lambda: Steps(10, solver="rk45"), "solver"),
        (lambda: Chain(()), "specs"),
        (lambda: Chain((Temperature(1.0), 3)), "specs"),
    ],
)
def test_invalid_specs_raise_naming_the_parameter(make, name):
    with pytest.raises(ValueError, match=name):
        make()


def test_error_message_states_the_accepted_range():
    # the computable range: T and 1/T and the tempered moments stay finite in float64
    with pytest.raises(ValueError, match=r"temperature must lie in \[1e-100, 1e\+100\]"):
        Temperature(0.0)
    with pytest.raises(ValueError, match=r"temperature must lie in \[1e-100, 1e\+100\]"):
        Temperature(1e101)
    with pytest.raises(ValueError, match=r"std-temperature must lie in \[1e-50, 1e\+50\]"):
        Temperature(1e-300, "std")  # its square would underflow to T = 0
    with pytest.raises(ValueError, match=r"std-temperature must lie in \[1e-50, 1e\+50\]"):
        Temperature(1e200, "std")  # its square would overflow
    assert Temperature(1e-50, "std").density_power == pytest.approx(1e-100, rel=1e-12)
    assert Temperature(1e50, "std").sharpening() is Sharpening.DIVERSITY_SEEKING
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        TopP(2.0)


@given(st.floats(0.01, 10.0))
def test_temperature_conventions_convert_both_ways(tau):
    T = std_to_density_temperature(tau)
    assert T == pytest.approx(tau**2, rel=1e-12, abs=0)
    assert density_to_std_temperature(T) == pytest.approx(tau, rel=1e-12, abs=0)
    assert Temperature(tau, "std").sharpening() == Temperature(T, "density").sharpening()


@pytest.mark.parametrize(
    "spec, vocab, label",
    [
        (Temperature(0.5), None, Sharpening.MODE_SEEKING),
        (Temperature(1.0), None, Sharpening.NEUTRAL),
        (Temperature(1.6), None, Sharpening.DIVERSITY_SEEKING),
        (Temperature(0.8, "std"), None, Sharpening.MODE_SEEKING),
        (TopK(5), 10, Sharpening.MODE_SEEKING),
        (TopK(10), 10, Sharpening.NEUTRAL),
        (TopK(5), None, Sharpening.MODE_SEEKING),
        (TopP(0.9), None, Sharpening.MODE_SEEKING),
        (TopP(1.0), None, Sharpening.NEUTRAL),
        (ScoreScale(1.1), None, Sharpening.MODE_SEEKING),
        (ScoreScale(0.9), None, Sharpening.DIVERSITY_SEEKING),
        (Guidance(1.0), None, Sharpening.NEUTRAL),
        (Guidance(3.0), None, Sharpening.MODE_SEEKING),
        (Steps(None), None, Sharpening.NEUTRAL),
        (Steps(20, "ddim"), None, Sharpening.MODE_SEEKING),
        (Chain((Temperature(0.7), TopK(3))), 10, Sharpening.MODE_SEEKING),
        (Chain((Temperature(1.0), TopP(1.0))), 10, Sharpening.NEUTRAL),
        (Chain((Temperature(1.5), TopK(3))), 10, Sharpening.MIXED),
    ],
)
def test_sharpening_labels(spec, vocab, label):
    assert spec.sharpening(vocab) is label


def test_labels_that_rest_on_assumptions_say_so():
    assert "A-MONO" in Steps(10).assumption
    assert Temperature(0.5).assumption is None


probs_strategy = st.lists(st.floats(0.01, 1.0), min_size=2, max_size=12).map(
    lambda w: torch.tensor(w, dtype=torch.float64) / sum(w)
)


@given(probs_strategy)
def test_neutral_truncations_equal_plain_sampling(probs):
    logits = torch.log(probs)
    plain = torch.softmax(logits, -1)
    V = probs.shape[0]
    for spec in (TopK(V), TopK(V + 3), TopP(1.0), Temperature(1.0), None):
        assert torch.allclose(torch.softmax(categorical_logits(logits, spec), -1), plain, rtol=0, atol=1e-15)


@given(probs_strategy, st.integers(1, 12))
def test_top_k_keeps_the_k_most_probable(probs, k):
    logits = torch.log(probs)
    q = torch.softmax(categorical_logits(logits, TopK(k)), -1)
    kept = q > 0
    # by hand: the k-th largest logit from a numpy sort; every token at or above it is kept
    # (exactly k tokens unless there are ties at the threshold, which are all kept)
    z = logits.cpu().numpy()
    kth = np.sort(z)[::-1][min(k, z.shape[0]) - 1]
    assert kept.tolist() == (z >= kth).tolist()
    # renormalised restriction of p
    assert torch.allclose(q[kept], probs[kept] / probs[kept].sum(), rtol=0, atol=1e-12)


@given(st.lists(st.integers(1, 10_000), min_size=2, max_size=12, unique=True), st.integers(1, 12))
def test_top_k_keeps_exactly_k_tokens_when_there_are_no_ties(weights, k):
    probs = torch.tensor(weights, dtype=torch.float64) / sum(weights)
    q = torch.softmax(categorical_logits(torch.log(probs), TopK(k)), -1)
    assert int((q > 0).sum()) == min(k, len(weights))
    torch.testing.assert_close(q, torch.as_tensor(hand_sampler_law(probs.cpu().numpy(), TopK(k))), rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    "probs, spec, expected",
    [
        # top-2 of (.5, .3, .2): drop .2, renormalise by .8
        ([0.5, 0.3, 0.2], TopK(2), [0.625, 0.375, 0.0]),
        ([0.2, 0.5, 0.3], TopK(1), [0.0, 1.0, 0.0]),
        ([0.1, 0.4, 0.2, 0.3], TopK(3), [0.0, 4 / 9, 2 / 9, 3 / 9]),
        # top-p 0.85 of (.4, .3, .2, .1): masses before each token 0, .4, .7, .9 -> keep three, /.9
        ([0.4, 0.3, 0.2, 0.1], TopP(0.85), [4 / 9, 3 / 9, 2 / 9, 0.0]),
        # top-p 0.45: the mass before the second token (.5) already reaches .45 -> the top token only
        ([0.3, 0.5, 0.2], TopP(0.45), [0.0, 1.0, 0.0]),
        ([0.5, 0.3, 0.2], TopP(0.6), [0.625, 0.375, 0.0]),
        # density temperature T = 1/2 squares: (.25, .09, .04) / .38
        ([0.5, 0.3, 0.2], Temperature(0.5), [25 / 38, 9 / 38, 4 / 38]),
        # T = 2 takes square roots: (.8, .6) / 1.4
        ([0.64, 0.36], Temperature(2.0), [4 / 7, 3 / 7]),
        # std temperature τ = √2 is density T = 2
        ([0.64, 0.36], Temperature(math.sqrt(2.0), "std"), [4 / 7, 3 / 7]),
        # temperature then top-2: (25, 9, 4)/38 -> (25, 9)/34
        ([0.5, 0.3, 0.2], Chain((Temperature(0.5), TopK(2))), [25 / 34, 9 / 34, 0.0]),
        # top-2 then T = 2: (.625, .375) -> √ -> (√5, √3)/(√5 + √3)
        ([0.5, 0.3, 0.2], Chain((TopK(2), Temperature(2.0))),
         [math.sqrt(5) / (math.sqrt(5) + math.sqrt(3)), math.sqrt(3) / (math.sqrt(5) + math.sqrt(3)), 0.0]),
    ],
)
def test_categorical_sampler_laws_computed_by_hand(probs, spec, expected):
    p = torch.tensor(probs, dtype=torch.float64)
    q = torch.softmax(categorical_logits(torch.log(p), spec), -1)
    torch.testing.assert_close(q, torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-15)
    # and the numpy reference used by the enumeration-vs-Monte-Carlo tests agrees with the hand values
    np.testing.assert_allclose(hand_sampler_law(np.array(probs), spec), expected, rtol=0, atol=1e-15)


@given(probs_strategy, st.floats(0.05, 1.0))
def test_top_p_matches_a_brute_force_nucleus(probs, p):
    q = torch.softmax(categorical_logits(torch.log(probs), TopP(p)), -1)
    # brute force: walk tokens in decreasing probability until the kept mass reaches p, ties at the end kept
    order = sorted(range(probs.shape[0]), key=lambda i: -float(probs[i]))
    kept, mass = set(), 0.0
    for i in order:
        if mass >= p:
            break
        kept.add(i)
        mass += float(probs[i])
    last = min(float(probs[i]) for i in kept)
    kept |= {i for i in range(probs.shape[0]) if float(probs[i]) == last}  # a tie with the last token kept is kept too
    assert {i for i in range(probs.shape[0]) if q[i] > 0} == kept
    assert float(q.sum()) == pytest.approx(1.0, rel=0, abs=1e-12)


def test_density_temperature_on_logits_is_a_power_of_p():
    p = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    q = torch.softmax(categorical_logits(torch.log(p), Temperature(0.5)), -1)
    assert torch.allclose(q, p**2 / (p**2).sum(), rtol=0, atol=1e-15)


def test_non_categorical_spec_on_logits_raises():
    with pytest.raises(ValueError, match="ScoreScale"):
        categorical_logits(torch.zeros(3), ScoreScale(1.1))


def test_to_dict_round_trips_fields():
    d = Temperature(0.7, "std").to_dict()
    assert d == {"kind": "Temperature", "value": 0.7, "convention": "std"}
    assert Chain((TopK(3), TopP(0.9))).to_dict()["specs"][1]["p"] == 0.9


# ---- one registry of sampler implementations per family -------------------------------------


#: one valid, non-neutral spec of every spec type (checked against the engine's spec classes below)
ONE_OF_EACH = (Temperature(0.5), Temperature(0.8, "std"), TopK(2), TopP(0.5), ScoreScale(1.1), Guidance(2.0), Steps(4, "euler"))


def _families():
    import toy_models.autoregressive  # noqa: F401  (importing a family registers it)
    import toy_models.diffusion  # noqa: F401
    import toy_models.flow  # noqa: F401
    import toy_models.gaussian  # noqa: F401
    from neon_theory.samplers import IMPLEMENTATIONS

    return dict(IMPLEMENTATIONS)


def test_each_family_refuses_every_spec_it_does_not_register_naming_itself_and_the_spec():
    from neon_theory import samplers

    engine = {c for c in vars(samplers).values() if isinstance(c, type) and issubclass(c, samplers.SamplerSpec)} - {samplers.SamplerSpec, Chain}
    assert {type(s) for s in ONE_OF_EACH} == engine
    families = _families()
    assert {"the Gaussian family", "diffusion sampling", "flow sampling", "categorical logits"} <= set(families)
    for impl in families.values():
        assert impl.supported, f"{impl.family} implements no sampler"
        for spec in ONE_OF_EACH:
            if type(spec).__name__ in impl.supported:
                continue  # applied by the family's own tests, on its own state
            with pytest.raises(ValueError, match=rf"{impl.family} does not implement {type(spec).__name__} samplers"):
                impl.apply(spec, None)


@given(spec=st.one_of(sampler_specs(), st.tuples(sampler_specs(), sampler_specs()).map(Chain)))
def test_every_sampler_spec_round_trips_through_its_dict_and_its_validation(spec):
    from neon_theory import samplers

    def rebuild(d):  # the dict's init fields, through the class's own validation (derived fields are recomputed)
        d = dict(d)
        kind = d.pop("kind")
        if kind == "Chain":
            return Chain(tuple(rebuild(x) for x in d["specs"]))
        cls = getattr(samplers, kind)
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.init})

    again = rebuild(spec.to_dict())
    assert again == spec and again.to_dict() == spec.to_dict() and again.is_neutral() == spec.is_neutral()


@pytest.mark.parametrize(
    "call, spec, family",
    [
        (lambda s: __import__("toy_models.gaussian", fromlist=["x"]).temperature_of(s), TopK(2), "the Gaussian family"),
        (lambda s: __import__("toy_models.autoregressive", fromlist=["x"]).std_scale_of(s), Guidance(2.0), "the continuous AR model"),
        (lambda s: __import__("toy_models.diffusion", fromlist=["x"]).parse_diffusion_sampler(s), Temperature(0.5), "diffusion sampling"),
        (lambda s: __import__("toy_models.flow", fromlist=["x"]).parse_flow_sampler(s), ScoreScale(1.1), "flow sampling"),
        (lambda s: categorical_logits(torch.zeros(3), s), Steps(4, "euler"), "categorical logits"),
    ],
)
def test_an_unsupported_spec_names_the_family_and_the_spec(call, spec, family):
    with pytest.raises(ValueError, match=rf"{family} does not implement {type(spec).__name__} samplers; it implements"):
        call(Chain((spec,)) if isinstance(spec, Temperature) else spec)


def test_a_neutral_spec_is_accepted_by_every_family():
    from toy_models.diffusion import parse_diffusion_sampler
    from toy_models.flow import parse_flow_sampler

    assert parse_diffusion_sampler(None) == (None, None, None) and parse_diffusion_sampler(Temperature(1.0)) == (None, None, None)
    assert parse_flow_sampler(TopP(1.0)) == (Steps(100, "euler"), None)


def test_adding_a_sampler_is_one_spec_and_one_implementation():
    from dataclasses import dataclass

    from neon_theory.samplers import SamplerImplementations, SamplerSpec, Sharpening

    @dataclass(frozen=True)
    class Shift(SamplerSpec):
        by: float

        def sharpening(self, vocab_size=None):
            return Sharpening.MIXED

    family = SamplerImplementations("a test family")
    family.register(Shift)(lambda s, x: x + s.by)
    family.register(Temperature)(lambda s, x: x * s.density_power)
    assert family.apply(Chain((Shift(1.0), Temperature(2.0), Shift(0.5))), 1.0) == pytest.approx(4.5)  # in chain order
    with pytest.raises(ValueError, match="spec_type must be a SamplerSpec class other than Chain"):
        family.register(Chain)
    with pytest.raises(ValueError, match="a test family does not implement TopK"):
        family.apply(TopK(3), 0.0)
