import pytest
from hypothesis import given
from hypothesis import strategies as st

from neon_theory.run.config import config_hash, config_to_dict, from_yaml, to_yaml
from studies.gaussian.demo import DemoConfig
from studies.official_ar.toy import ARToyConfig
from studies.official_diffusion.toy import DiffusionToyConfig
from studies.plane.toy import PlaneConfig


@pytest.mark.parametrize(
    "cfg",
    [DemoConfig(), DiffusionToyConfig.preset("paper"), DiffusionToyConfig.preset("smoke"), ARToyConfig.preset("smoke"), PlaneConfig.preset("smoke")],
)
def test_configs_round_trip_through_yaml(cfg):
    back = from_yaml(type(cfg), to_yaml(cfg))
    assert back == cfg
    assert config_hash(back) == config_hash(cfg)


@given(st.integers(0, 10_000), st.floats(1e-4, 1.0), st.integers(1, 50))
def test_hash_changes_with_any_field_and_with_the_code_version(seed, lr, steps):
    a = DemoConfig(seed=seed, lr=lr, steps=steps)
    assert config_hash(a) == config_hash(DemoConfig(seed=seed, lr=lr, steps=steps))
    assert config_hash(a) != config_hash(DemoConfig(seed=seed + 1, lr=lr, steps=steps))
    assert config_hash(a, "v1") != config_hash(a, "v2")
    assert config_to_dict(a)["lr"] == lr


@pytest.mark.parametrize(
    "text, match",
    [
        ("n_base: 10\nlearning_rate: 0.1\n", "learning_rate"),
        ("[1, 2]", "mapping"),
        ("a: [", "YAML"),
        ("steps: 0\n", "steps"),
    ],
)
def test_bad_config_files_are_rejected_naming_the_field(text, match):
    cls = ARToyConfig if "n_base" in text else DemoConfig
    with pytest.raises(ValueError, match=match):
        from_yaml(cls, text)


def test_yaml_loading_is_safe():
    with pytest.raises(ValueError, match="YAML"):
        from_yaml(DemoConfig, "!!python/object/apply:os.system ['echo unsafe']")
