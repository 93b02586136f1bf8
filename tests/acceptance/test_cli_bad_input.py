"""Every bad input to the CLI gets one clear line and exit code 2, before any work is done.

One test (or parametrised case) per input of the reliability issue's table and of an independent
review: out-of-range temperatures and moments, unwritable outputs, unreachable executors, huge
requests, sweep files as people write them.
"""

import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")


import cli_cells  # noqa: E402, F401  (registers the test-reliability experiment)
import pytest  # noqa: E402
from cli_cells import RUNS  # noqa: E402
from helpers import one_line_error, sweep_file  # noqa: E402
from helpers import run_cli as run  # noqa: E402

from neon_theory.run import plugins  # noqa: E402

plugins.load("neon_theory.experiments")  # registers the studies' cells


from neon_theory.run import cli  # noqa: E402
from neon_theory.run.sweeps import (  # noqa: E402
    ResultStore,
    make_executor,
)

# an unwritable folder (even for root) and a path that cannot be created
UNWRITABLE = "/sys"


UNCREATABLE = "/proc/neon-theory-store"


needs_sys = pytest.mark.skipif(os.access("/sys", os.W_OK) and not Path("/sys/fs").exists(), reason="needs a read-only /sys")


# ---- extreme temperatures: a range that float64 computes with, or one line --------------------


@pytest.mark.parametrize(
    "sampler, needles",
    [
        ("std-temperature=1e-300", ["std-temperature", "[1e-50, 1e+50]", "1e-300"]),
        ("std-temperature=1e200", ["std-temperature", "[1e-50, 1e+50]"]),
        ("temperature=1e308", ["temperature", "[1e-100, 1e+100]"]),
        ("temperature=1e-101", ["temperature", "[1e-100, 1e+100]"]),
    ],
)
def test_extreme_temperatures_are_rejected_with_the_computable_range(sampler, needles, capsys):
    code, out, err = run(["align", "--sampler", sampler], capsys)
    assert code == 2 and out == ""
    one_line_error(err, "--sampler", *needles)
    assert "Delta" not in err and "Division" not in err


@pytest.mark.parametrize("T, sign", [(1e-100, -1), (1e-12, -1), (1e12, 1), (1e100, 1)])
def test_the_edges_of_the_temperature_range_compute_finite_exact_reports(T, sign, capsys):
    """Σ_r = 0.8 Σ*: r_d ∥ r_s, so s has the sign of T − 1 and the cosine is ±1 even at the edges."""
    code, out, _ = run(["align", "--json", "--sampler", f"temperature={T:g}", "--model-scale", "0.8"], capsys)
    assert code == 0
    d = json.loads(out)
    assert d["s"] is not None and sign * d["s"] > 0
    assert d["cosine"] == pytest.approx(sign, abs=1e-9) and d["verdict"] == ("aligned" if sign > 0 else "anti-aligned")


@pytest.mark.parametrize(
    "argv, needles",
    [
        (["--data-cov", "1e-300,0;0,1e-300"], ["--data-cov", "eigenvalues", "[1e-100, 1e+100]"]),
        (["--model-cov", "1e300,0;0,1e300"], ["--model-cov", "eigenvalues"]),
        (["--model-cov", "1,0;0,1e-9"], ["--model-cov", "condition number", "1e+06"]),
        (["--model-mean", "1e60,0"], ["--model-mean", "[-1e+50, 1e+50]"]),
        # each in range, together beyond float64: one line, not a NaN report
        (["--sampler", "temperature=1e100", "--model-cov", "1e100,0;0,1e100", "--data-cov", "1e-100,0;0,1e-100"], ["overflow", "T = 1e+100"]),
    ],
)
def test_tiny_or_huge_moments_are_rejected_in_the_users_names(argv, needles, capsys):
    code, out, err = run(["align", *argv], capsys)
    assert code == 2 and out == ""
    one_line_error(err, *needles)
    assert "data_cov" not in err and "model_cov" not in err and "vector" not in err


# ---- check before you compute: outputs, store, executor, size ---------------------------------


@needs_sys
@pytest.mark.parametrize("store", [UNWRITABLE, UNCREATABLE])
def test_an_unwritable_store_fails_before_the_first_job(store, tmp_path, capsys):
    path = sweep_file(tmp_path, "experiment: test-reliability\ngrid: {x: [1, 2]}\n")
    RUNS.clear()
    code, out, err = run(["sweep", path, "--store", store, "--out", tmp_path / "t.csv"], capsys)
    assert code == 2 and RUNS == []  # nothing computed, so nothing lost
    one_line_error(err, "--store", "writable", store)
    with pytest.raises(ValueError, match="store must be a writable folder"):
        ResultStore(store)  # the API says the same, in its own name


@needs_sys
@pytest.mark.parametrize("option", ["--out", "--csv"])
def test_an_unwritable_sweep_table_fails_before_the_first_job(option, tmp_path, capsys):
    path = sweep_file(tmp_path, "experiment: test-reliability\ngrid: {x: [1, 2]}\n")
    RUNS.clear()
    argv = ["sweep", path, "--store", tmp_path / "store", "--out", tmp_path / "t.csv", option, f"{UNWRITABLE}/t.csv"]
    code, _, err = run(argv, capsys)
    assert code == 2 and RUNS == []
    one_line_error(err, option, "writable")


@needs_sys
def test_demo_into_an_unwritable_folder_fails_before_computing(monkeypatch, capsys):
    import studies.gaussian.demo as demo

    monkeypatch.setattr(demo, "run_demo", lambda *a, **k: pytest.fail("the demo computed before checking --out"))
    code, out, err = run(["demo", "--out", UNWRITABLE], capsys)
    assert code == 2 and out == ""
    one_line_error(err, "--out", "writable")


def test_slurm_without_sbatch_fails_before_the_first_job(tmp_path, monkeypatch, capsys):
    pytest.importorskip("submitit")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no sbatch anywhere
    path = sweep_file(tmp_path, "experiment: test-reliability\ngrid: {x: [1]}\n")
    RUNS.clear()
    argv = ["sweep", path, "--executor", "slurm", "--store", tmp_path / "s", "--out", tmp_path / "t.csv", "--slurm-folder", tmp_path / "sub"]
    code, _, err = run(argv, capsys)
    assert code == 2 and RUNS == []
    one_line_error(err, "--executor slurm", "sbatch", "cluster 'local'")
    with pytest.raises(ValueError, match="sbatch"):
        make_executor("slurm", folder=tmp_path / "sub", cluster="slurm")


def test_an_unreachable_ray_cluster_fails_before_the_first_job(tmp_path, monkeypatch, capsys):
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("Ray is already initialised in this process")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    path = sweep_file(tmp_path, "experiment: test-reliability\ngrid: {x: [1]}\n")
    RUNS.clear()
    argv = ["sweep", path, "--executor", "ray", "--ray-address", "auto", "--store", tmp_path / "s", "--out", tmp_path / "t.csv"]
    code, _, err = run(argv, capsys)
    assert code == 2 and RUNS == []
    one_line_error(err, "--ray-address auto", "cannot start or reach the Ray cluster")
    assert not ray.is_initialized()


def test_a_huge_seed_range_is_rejected_before_it_is_built(capsys):
    code, _, err = run(["plane", "--seeds", "0-99999999999"], capsys)
    assert code == 2
    one_line_error(err, "--seeds", f"between 1 and {cli.MAX_SEEDS} seeds", "100000000000")
    assert cli.parse_seeds(f"5-{4 + cli.MAX_SEEDS}")[-1] == 4 + cli.MAX_SEEDS  # the limit itself is accepted


@pytest.mark.parametrize(
    "argv, needles",
    [
        (["--dim", "100"], ["--dim 100", "min", "GiB", "--yes"]),
        (["--mc", "10000000000"], ["--mc 10000000000", "h", "--yes"]),
        (["--mc", "1e10"], ["--mc 10000000000", "--yes"]),
        (["--dim", "100000", "--yes"], ["more than this machine has"]),
    ],
)
def test_huge_align_requests_state_their_cost_and_need_yes(argv, needles, capsys, monkeypatch):
    import toy_models.gaussian as gaussian

    monkeypatch.setattr(gaussian, "exact_quantities", lambda *a, **k: pytest.fail("computed before the cost check"))
    code, out, err = run(["align", *argv], capsys)
    assert code == 2 and out == ""
    one_line_error(err, *needles)


# ---- sweep files as people write them ----------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n"])
def test_an_empty_sweep_file_is_one_line(text, tmp_path, capsys):
    code, _, err = run(["sweep", sweep_file(tmp_path, text), "--store", tmp_path / "s"], capsys)
    assert code == 2
    one_line_error(err, "sweep.yaml", "empty", "mapping")
    assert "__init__" not in err and "positional" not in err


def test_a_sweep_file_without_its_experiment_names_the_missing_field(tmp_path, capsys):
    code, _, err = run(["sweep", sweep_file(tmp_path, "grid: {x: [1]}\n"), "--store", tmp_path / "s"], capsys)
    assert code == 2
    one_line_error(err, "missing the required field(s) ['experiment']")


def test_an_exponent_float_in_a_sweep_file_runs(tmp_path, capsys):
    path = sweep_file(tmp_path, "experiment: test-reliability\ngrid: {x: [1e-3, 5e1]}\nseeds: [1e0]\n")
    code, out, _ = run(["sweep", path, "--store", tmp_path / "s", "--out", tmp_path / "t.csv", "--json"], capsys)
    assert code == 0 and json.loads(out)["ok"] == 2
    import pandas as pd

    assert sorted(pd.read_csv(tmp_path / "t.csv")["result.y"]) == pytest.approx([1.001, 51.0])  # x + seed 1


# ---- inputs found by an independent review ---------------------------------------------------------


_GRID = ",".join(map(str, range(1000)))


REVIEW_FILES = {
    "many.yaml": f"experiment: test-reliability\ngrid: {{x: [{_GRID}]}}\nseeds: [{_GRID}]\n",
    "huge.yaml": f"experiment: test-reliability\ngrid: {{x: [{_GRID}], fail_below: [{_GRID}]}}\nseeds: [0, 1]\n",
    "twice.yaml": "experiment: test-reliability\nseeds: [0, 0]\n",
    "dupkey.yaml": "experiment: test-reliability\nexperiment: gaussian-cell\n",
    "hotT.yaml": "experiment: gaussian-cell\nfixed: {sampler: temperature=1e-300}\n",
    "threads.yaml": "experiment: test-reliability\nthreads: 1e6\n",
    "ok.yaml": "experiment: test-reliability\n",
    "allfailed.csv": "x,seed,status,error\n-1,0,error,boom\n-2,0,error,boom\n",
}


@pytest.mark.parametrize(
    "argv, needles",
    [
        # each input in range, together beyond float64: refused, not a NaN report
        (["align", "--data-cov", "1e-100,0;0,1e-100", "--model-scale", "1", "--model-mean=1e50,0"], ["overflow", "not finite"]),
        (["align", "--model-scale", "1e300"], ["--model-scale × --data-cov", "eigenvalues"]),
        (["align", "--mc", "2e6", "--batches", "1e6"], ["--batches 1000000", "min", "--yes"]),  # the batches' cost counts
        (["align", "--mc", "2e9", "--batches", "1e9"], ["--batches 1000000000", "GiB of memory"]),
        (["sweep", "{dir}/many.yaml", "--store", "{dir}/s"], ["1,000,000 jobs", "--yes"]),
        (["sweep", "{dir}/huge.yaml", "--store", "{dir}/s", "--yes"], ["at most 1,000,000 jobs"]),
        (["sweep", "{dir}/twice.yaml", "--store", "{dir}/s"], ["seeds must be distinct"]),
        (["sweep", "{dir}/dupkey.yaml", "--store", "{dir}/s"], ["'experiment' appears twice"]),
        (["sweep", "{dir}/hotT.yaml", "--store", "{dir}/s"], ["temperature must lie in [1e-100, 1e+100]"]),
        (["sweep", "{dir}/threads.yaml", "--store", "{dir}/s"], ["threads must be an integer in [1, 1024]"]),
        (["sweep", "{dir}", "--store", "{dir}/s"], ["is not a regular file"]),
        (["sweep", "{dir}/ok.yaml", "--workers", "2000"], ["--workers", "[1, 1024]"]),
        (["sweep", "{dir}/ok.yaml", "--store", "{dir}/s", "--out", "{dir}/" + "q" * 250 + ".csv"], ["--out cannot be written"]),
        (["sweep", "{dir}/ok.yaml", "--executor", "ray", "--ray-address", "127.0.0.1:1", "--store", "{dir}/s"], ["cannot reach the Ray cluster"]),
        (["demo", "--out", "{dir}/" + "a" * 300], ["--out must be a writable folder"]),
        (["toys", "--seeds", "0,0"], ["--seeds must name distinct seeds"]),
        (["results", "{dir}/allfailed.csv"], ["no numeric results", "0 of 2 record(s) ok"]),
    ],
)
def test_inputs_from_the_review_are_one_line_and_exit_2(argv, needles, tmp_path, capsys, monkeypatch):
    import toy_models.gaussian as gaussian

    for name, text in REVIEW_FILES.items():
        (tmp_path / name).write_text(text)
    RUNS.clear()
    if "--mc" in argv:
        monkeypatch.setattr(gaussian, "exact_quantities", lambda *a, **k: pytest.fail("computed before the cost check"))
    code, out, err = run([a.format(dir=tmp_path) for a in argv], capsys)
    assert code == 2 and out == "" and RUNS == []
    one_line_error(err, *needles)


def test_the_edges_of_the_std_temperature_range_are_accepted(capsys):
    code, out, _ = run(["align", "--json", "--sampler", "std-temperature=1e50"], capsys)
    assert code == 0 and json.loads(out)["s"] > 0
