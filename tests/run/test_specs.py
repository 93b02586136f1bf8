"""One parser turns every sampler spec written on the command line into its validated dataclass."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from neon_theory.run.specs import SPEC_NAMES, parse_sampler
from neon_theory.samplers import Chain, Guidance, ScoreScale, Steps, Temperature, TopK, TopP


@pytest.mark.parametrize(
    "text, expected",
    [
        ("temperature=0.7", Temperature(0.7, "density")),
        ("std-temperature=0.8", Temperature(0.8, "std")),
        ("temperature=1e+12", Temperature(1e12, "density")),  # '+' inside a number is not a chain
        ("top-k=5", TopK(5)),
        ("top-k=5.0", TopK(5)),  # an integral float is a count
        ("top-p=0.9", TopP(0.9)),
        ("score-scale=1.1", ScoreScale(1.1)),
        ("score-scale=1.1,where=update", ScoreScale(1.1, "update")),
        ("guidance=2", Guidance(2.0)),
        ("steps=20,solver=ddim,eta=0.5", Steps(20, "ddim", eta=0.5)),
        ("steps=20,solver=euler+guidance=2", Chain((Steps(20, "euler"), Guidance(2.0)))),
        ("temperature=0.5 + top-k=3", Chain((Temperature(0.5), TopK(3)))),
    ],
)
def test_each_spec_name_parses_to_its_dataclass(text, expected):
    assert parse_sampler(text) == expected


@pytest.mark.parametrize(
    "text, needle",
    [
        ("", "a sampler must be written like"),
        ("temp=0.7", "must be one of temperature=VALUE"),
        ("temperature=", "must be one of"),
        ("temperature=abc", "values must be numbers"),
        ("temperature=-1", "sampler part 'temperature=-1'"),
        ("top-k=2.5", "sampler part 'top-k=2.5'"),
        ("top-p=1.5", "sampler part 'top-p=1.5'"),
        ("steps=20,solver=rk4", "solver"),
        ("steps=20,colour=red", "steps takes"),
        ("guidance=2,where=eps", "guidance takes no other fields"),
        ("temperature=0.7+nope=1", "sampler part 'nope=1'"),
    ],
)
def test_bad_specs_raise_one_value_error_quoting_the_part(text, needle):
    with pytest.raises(ValueError, match=None) as info:
        parse_sampler(text)
    assert needle in str(info.value) and "\n" not in str(info.value)


@given(st.floats(min_value=1e-100, max_value=1e100, allow_nan=False), st.sampled_from(["temperature", "std-temperature"]))
def test_a_temperature_written_by_repr_parses_back_exactly(value, name):
    lo = 1e-50 if name == "std-temperature" else 1e-100
    if not (lo <= value <= 1 / lo):
        return
    spec = parse_sampler(f"{name}={value!r}")
    assert spec.value == value and spec.convention == ("std" if name.startswith("std") else "density")


def test_every_spec_type_of_the_engine_has_a_name():
    from neon_theory import samplers

    named = {spec_type for spec_type, _, _ in SPEC_NAMES.values()} | {Chain}
    engine = {c for c in vars(samplers).values() if isinstance(c, type) and issubclass(c, samplers.SamplerSpec) and c is not samplers.SamplerSpec}
    assert engine == named


def test_the_cli_parses_align_samplers_with_the_same_function(capsys):
    from neon_theory.run.cli import main

    assert main(["align", "--sampler", "top-k=3", "--json"]) == 2  # parsed, then refused by the family, naming both
    err = capsys.readouterr().err
    assert "Gaussian family does not implement TopK" in err and err.count("\n") == 1
    assert main(["align", "--sampler", "std-temperature=0.9", "--json"]) == 0
    assert math.isfinite(__import__("json").loads(capsys.readouterr().out)["s"])


def test_align_prints_the_product_of_chained_temperatures(capsys):
    from neon_theory.run.cli import main

    assert main(["align", "--sampler", "temperature=0.5+temperature=0.5"]) == 0
    assert "sampler T = 0.25 (mode-seeking)" in capsys.readouterr().out
