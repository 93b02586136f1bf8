"""The sampler text as the cells take it: one spelling per sampler, no part silently dropped or replaced,
and the records table's columns (found by an independent review of the sampler vocabulary)."""

import numpy as np
import pytest

from neon_theory.run.store import records_frame
from neon_theory.sampler_text import parse_sampler, register_sampler_name, sampler_text
from neon_theory.samplers import Steps, Temperature
from studies.flow.cells import FlowCell
from studies.gaussian.cells import GaussianCell
from studies.images.cells import ImageCell
from studies.official_ar.cells import ARCell


def test_the_two_temperature_spellings_of_one_sampler_are_one_cell():
    assert ARCell(sampler="temperature=0.25").sampler == ARCell(sampler="std-temperature=0.5").sampler == "std-temperature=0.5"
    assert GaussianCell(sampler="std-temperature=0.5").sampler == GaussianCell(sampler="temperature=0.25").sampler == "temperature=0.25"
    assert ARCell(sampler="temperature=0.25").tau == 0.5 and GaussianCell(sampler="std-temperature=0.5").T == 0.25


@pytest.mark.parametrize("make, text, match", [
    (FlowCell, "steps=3+steps=9", "Steps is written twice"),
    (FlowCell, "guidance=2+guidance=3", "Guidance is written twice"),
    (lambda sampler: ImageCell(family="diffusion", sampler=sampler), "guidance=2+guidance=3", "Guidance is written twice"),
    # euler is the parser's default solver, so only the written text tells that it was asked for
    (lambda sampler: ImageCell(family="diffusion", sampler=sampler), "steps=8,solver=euler", "solves with ddim; got solver=euler"),
])
def test_a_cell_that_completes_a_chain_drops_or_replaces_no_written_part(make, text, match):
    with pytest.raises(ValueError, match=match):
        make(sampler=text)


def test_a_sampler_column_never_hides_a_param_of_the_same_name():
    records = [{"params": {"sampler": "steps=5+guidance=2.0", "steps": 10}, "seed": 0, "status": "ok", "result": {"y": 1.0}}]
    row = records_frame(records).iloc[0]
    assert row["steps"] == 10 and row["sampler.steps"] == 5 and row["guidance"] == 2.0


def test_a_sampler_name_may_not_take_a_records_column():
    with pytest.raises(ValueError, match="column 'seed'.*is taken"):
        register_sampler_name("seedy", Temperature, "value", column="seed")
    with pytest.raises(ValueError, match="column 'tau'.*is taken"):
        register_sampler_name("tau-again", Temperature, "value", fixed={"convention": "std"}, column="tau")


def test_text_forms_round_trip_or_are_refused_in_words():
    for text in ("steps=20,solver=heun,eta=0.5+guidance=2.5", "top-p=0.9+temperature=0.7", "std-temperature=1e-30"):
        assert parse_sampler(sampler_text(parse_sampler(text))) == parse_sampler(text)
    with pytest.raises(ValueError, match="no text form.*exact law"):
        sampler_text(Steps(None))
    with pytest.raises(ValueError, match="a comma inside a YAML"):
        parse_sampler("solver=ddim+guidance=2")  # what '[steps=20,solver=ddim+guidance=2]' becomes in YAML


def test_the_old_view_of_the_names_sees_names_registered_later():
    from neon_theory.run import specs
    from neon_theory.sampler_text import SAMPLER_NAMES

    register_sampler_name("temperature-late", Temperature, "value", fixed={"convention": "density"}, column="t_late")
    try:
        assert "temperature-late" in specs.SPEC_NAMES and "temperature-late" in specs.EXAMPLE
    finally:
        SAMPLER_NAMES.pop("temperature-late")


def test_probe_sizes_and_walks_are_checked_by_name_and_take_numpy_integers():
    from neon_theory.preconditioners import Walk
    from neon_theory.probe import ProbeSizes

    for kwargs, name in ((dict(n_pop=-5), "n_pop"), (dict(grad_batch=0), "grad_batch"), (dict(n_batches="x"), "n_batches")):
        with pytest.raises(ValueError, match=f"^{name}"):
            ProbeSizes(**kwargs)
    assert Walk(np.int64(16)).batch_size == 16
