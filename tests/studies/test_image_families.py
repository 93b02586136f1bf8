"""The image family contract: a fourth family is one module, samplers are refused naming the family,
and each built-in family names its synthetic draws' streams as the old ``knob``/``value`` cells did."""

import importlib
import math
import re
import sys
import textwrap

import pytest

import studies.images.figures as F  # imported before any test family registers: the figures keep the built-in three
from neon_theory.run.sweeps import ResultStore, run_sweep
from studies.images import cells as E
from studies.images.family import IMAGE_FAMILIES, ImageFamily, SamplerSweep, register_image_family

TINY = '''
"""A fourth image family for the tests: the flow model on a narrower UNet, Euler steps only, one loss-noise draw an image."""
from neon_theory.samplers import Steps
from studies.images.family import ImageFamily, SamplerSweep, class_probs, register_image_family
from studies.images.families import unet
from toy_models.flow import SAMPLERS, FlowModel
from toy_models.images.unet import TimeUNet


def build(train, s, network, seed):
    return FlowModel(TimeUNet(train.shape, channels=4, levels=1, num_classes=train.num_classes), class_probs=class_probs(train))


TINY = register_image_family(ImageFamily(
    name="tiny-flow", samplers=SAMPLERS, spec_types=(Steps,), build=build, encode=unet.encode, decode=unet.decode,
    copies=lambda s: 1, complete=lambda spec, s: spec, neutral=lambda s: Steps(s["sample_steps"]),  # unguided
    stream=lambda spec: f"tiny/{spec.n}", sweeps=(SamplerSweep("steps", (2, 4), (2, 4, 8)),),
    neon=SamplerSweep("steps", (2, 8), (2, 8)),
))
'''


@pytest.fixture
def tiny_family(tmp_path, monkeypatch):
    """The fourth family, registered by importing its module from a temporary folder (and unregistered after)."""
    from neon_theory.run import experiments

    (tmp_path / "tiny_image_family.py").write_text(textwrap.dedent(TINY))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(experiments, "CODE_MODULES", set(experiments.CODE_MODULES))  # its registration leaves with it
    module = importlib.import_module("tiny_image_family")
    yield module.TINY
    IMAGE_FAMILIES.pop("tiny-flow", None)
    sys.modules.pop("tiny_image_family", None)


@pytest.mark.slow
def test_a_fourth_family_is_one_module_and_runs_through_image_cell(tiny_family, tmp_path):
    assert IMAGE_FAMILIES["tiny-flow"] is tiny_family
    spec = F.image_cosine_spec("tiny-flow", "steps", "smoke")  # the figures' sweep of it, read from the registry
    df = run_sweep(spec, ResultStore(tmp_path / "store"), progress=False)
    assert (df.status == "ok").all(), df.error.tolist()
    assert sorted(df["steps"]) == [2, 4]  # the sampler's column
    for _, row in df.iterrows():
        assert math.isfinite(row["result.s"]) and row["result.s_se"] > 0 and -1 < row["result.cosine"] < 1
    cell = E.ImageCell(family="tiny-flow", sampler="steps=2")
    probe = E._image_probe(cell.base(), "adam", 0, 0)
    assert probe.real.shape[0] == E.IMAGE_PRESETS["smoke"]["n_pop"]  # copies(s) = 1: one row an image
    assert cell.stream() == "tiny/2" and cell.sampler == "steps=2"


def test_a_fourth_family_refuses_what_it_does_not_take(tiny_family):
    with pytest.raises(ValueError, match="tiny-flow family does not implement sampler 'guidance=2.0'; it takes steps"):
        E.ImageCell(family="tiny-flow", sampler="guidance=2")
    with pytest.raises(ValueError, match="not a network of the tiny-flow family"):
        E.ImageCell(family="tiny-flow", sampler="steps=2", network="diffusers")


@pytest.mark.parametrize(
    "family, sampler, takes",
    [("pixel-ar", "guidance=2", "temperature"), ("pixel-ar", "steps=5", "top-k"), ("flow", "top-k=2", "guidance, steps"),
     ("diffusion", "temperature=0.7", "guidance, steps"), ("diffusion", "score-scale=1.1", "guidance, steps"),
     ("flow", "steps=5+top-p=0.9", "guidance, steps"), ("pixel-ar", "temperature=0.7+guidance=2", "top-p")],
)
def test_image_cell_refuses_a_sampler_its_family_does_not_implement_naming_both(family, sampler, takes):
    from neon_theory.sampler_text import parse_sampler, sampler_text

    text = sampler_text(parse_sampler(sampler))
    with pytest.raises(ValueError, match=rf"the {family} family does not implement sampler '{re.escape(text)}'; it takes .*{takes}"):
        E.ImageCell(family=family, sampler=sampler)


@pytest.mark.parametrize(
    "family, sampler, stream, text",
    [("diffusion", "guidance=3", "guidance/3.0", "steps=5,solver=ddim+guidance=3.0"), ("diffusion", "steps=8", "steps/8", "steps=8,solver=ddim+guidance=1.0"),
     ("flow", "guidance=0.5", "guidance/0.5", "steps=5+guidance=0.5"), ("flow", "steps=2.0", "steps/2", "steps=2+guidance=1.0"),
     ("diffusion", "guidance=1", "steps/5", "steps=5,solver=ddim+guidance=1.0"),  # γ = 1 at the preset's steps: one sampler, one stream
     ("pixel-ar", "temperature=0.7", "temperature/0.7", "temperature=0.7"), ("pixel-ar", "top-k=2.0", "top_k/2", "top-k=2"),
     ("pixel-ar", "top-p=1", "top_p/1.0", "top-p=1.0"), ("pixel-ar", "temperature=0.7+top-k=2", "temperature/0.7+top_k/2", "temperature=0.7+top-k=2")],
)
def test_each_family_completes_its_sampler_and_names_its_stream_as_the_knob_value_cells_did(family, sampler, stream, text):
    """``image-S/<stream>`` seeds the synthetic draws: the old cells named it ``<knob>/<value>`` (k and steps as integers)."""
    cell = E.ImageCell(family=family, sampler=sampler)
    assert cell.stream() == stream and cell.sampler == text
    assert E.ImageCell(family=family, sampler=cell.sampler) == cell  # the completed text is a fixed point


def test_a_family_is_registered_once_per_name():
    fam = IMAGE_FAMILIES["flow"]
    assert register_image_family(fam) is fam  # the same value again: a no-op
    with pytest.raises(ValueError, match="'flow' is already registered"):
        register_image_family(ImageFamily(**{**{f: getattr(fam, f) for f in fam.__dataclass_fields__}, "copies": lambda s: 1}))
    with pytest.raises(ValueError, match="build must be callable"):
        ImageFamily(**{**{f: getattr(fam, f) for f in fam.__dataclass_fields__}, "name": "x", "build": None})
    with pytest.raises(ValueError, match="SamplerSweep"):
        ImageFamily(**{**{f: getattr(fam, f) for f in fam.__dataclass_fields__}, "name": "x", "neon": ("guidance", (3.0, 0.5))})
    assert isinstance(fam.neon, SamplerSweep)
