"""Values as people write them: exponent numbers in sweep files, integral exponents for integer
options and counts, and the align command's cost model that decides when --yes is needed.
"""









import matplotlib

matplotlib.use("Agg")


import pytest  # noqa: E402

from neon_theory.run import plugins  # noqa: E402

plugins.load("neon_theory.experiments")  # registers the studies' cells

from neon_theory.run import cli  # noqa: E402
from neon_theory.run.config import config_from_dict, from_yaml  # noqa: E402
from neon_theory.run.sweeps import (  # noqa: E402
    SweepSpec,
)
from studies.gaussian.cells import GaussianCell  # noqa: E402
from toy_models.gaussian import alignment_cost  # noqa: E402

# ---- check before you compute: outputs, store, executor, size ---------------------------------


def test_the_cost_model_grows_with_the_request_and_passes_small_ones():
    small_s, small_b = alignment_cost(2, 100_000)
    assert small_s < cli.CONFIRM_SECONDS and small_b < cli.CONFIRM_BYTES  # the README's examples need no --yes
    assert alignment_cost(40, 0)[0] > alignment_cost(20, 0)[0] and alignment_cost(40, 0)[1] > alignment_cost(20, 0)[1]
    assert alignment_cost(2, 10**9)[0] > 10 * alignment_cost(2, 10**7)[0]
    # the measured points the model is fitted to (2 cores): D = 60 exact took 17 s and 0.53 GB, D = 40 5.6 s
    assert 8 < alignment_cost(60, 0)[0] < 40 and 0.25e9 < alignment_cost(60, 0)[1] < 1.1e9
    assert 2.5 < alignment_cost(40, 0)[0] < 12


@pytest.mark.parametrize("text", ["1e5", "100000", "1E5", "+1e5"])
def test_integer_options_accept_integral_exponents(text):
    assert cli.integer(0)(text) == 100_000


@pytest.mark.parametrize("text", ["1.5", "1e-3", "x", "", "inf", "nan", "-1"])
def test_integer_options_reject_the_rest_with_the_range(text):
    import argparse

    with pytest.raises(argparse.ArgumentTypeError, match=r"integer in \[0, inf\)"):
        cli.integer(0)(text)


# ---- sweep files as people write them ----------------------------------------------------------


def test_yaml_exponent_numbers_are_floats_and_integral_ones_fill_int_fields():
    spec = from_yaml(SweepSpec, "experiment: gaussian-cell\nfixed: {lr: 1e-3, n_synthetic: 2e3}\ngrid: {sampler: [temperature=5e-1, temperature=7E-1]}\n")
    assert spec.fixed == {"lr": 0.001, "n_synthetic": 2000.0} and spec.grid["sampler"] == ("temperature=5e-1", "temperature=7E-1")
    cells = [config_from_dict(GaussianCell, p) for p, _ in spec.jobs()]
    assert [c.lr for c in cells] == [0.001, 0.001] and [c.T for c in cells] == [0.5, 0.7]
    assert all(type(c.n_synthetic) is int and c.n_synthetic == 2000 for c in cells)
    spec.validate()  # and the cache key is the one of the integer
    with pytest.raises(ValueError, match="n_synthetic"):
        config_from_dict(GaussianCell, {"n_synthetic": 2000.5})  # not integral: still rejected, by name
    assert from_yaml(SweepSpec, "experiment: 'e'\nfixed: {tag: '1e-3'}\n").fixed == {"tag": "1e-3"}  # quoted stays text


# ---- inputs found by an independent review ---------------------------------------------------------


def test_counts_given_as_integral_floats_are_accepted_by_the_toy_cells():
    from studies.flow.cells import FlowCell
    from studies.tokens.cells import TokenCell

    assert TokenCell(sampler="top-k=2.0").sampler == "top-k=2" and FlowCell(sampler="steps=1e1").sampler == "steps=10+guidance=1.0"
    with pytest.raises(ValueError, match="top-k=2.5"):
        TokenCell(sampler="top-k=2.5")
