import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers import SquareConfig

from neon_theory.run import plugins
from neon_theory.run.sweeps import (
    EXPERIMENTS,
    CorruptRecordWarning,
    LocalExecutor,
    ResultStore,
    SweepSpec,
    code_version,
    experiment,
    job_key,
    load_table,
    run_sweep,
    save_table,
)

CALLS: list = []
plugins.load("neon_theory.experiments")  # registers the studies' cells


@experiment("test-square", config=SquareConfig)
def _square(cfg: SquareConfig, seed: int):
    CALLS.append((cfg.x, seed))
    if cfg.x < cfg.fail_below:
        raise ValueError("x is below fail_below")
    return {"y": cfg.x**2 + seed, "ys": [cfg.x, seed]}


SPEC = SweepSpec("test-square", grid={"x": [0, 1, 2]}, seeds=(0, 10))
COLS = ["x", "seed", "result.y"]


def _sorted(df, cols=COLS):
    return df[cols].sort_values(cols[:2]).reset_index(drop=True)


def test_grid_expands_params_times_seeds_and_round_trips_yaml():
    from neon_theory.run.config import from_yaml, to_yaml

    jobs = SPEC.jobs()
    assert len(jobs) == 6 and jobs[0] == ({"x": 0}, 0)
    assert from_yaml(SweepSpec, to_yaml(SPEC)) == SPEC
    planned = SPEC.validate()
    assert planned[0][0] == {"x": 0, "fail_below": 0.0}  # defaults are part of the key


def test_the_cache_key_covers_config_seed_and_code_version():
    base = job_key("e", {"x": 1}, 0, "v1")
    assert len({base, job_key("e", {"x": 2}, 0, "v1"), job_key("e", {"x": 1}, 1, "v1"), job_key("e", {"x": 1}, 0, "v2")}) == 4
    assert code_version().startswith("0.1.0+") and len(code_version()) == len("0.1.0+") + 12


def test_results_are_cached_and_identical_for_any_number_of_workers(tmp_path):
    a = run_sweep(SPEC, ResultStore(tmp_path / "a"), workers=1, progress=False)
    b = run_sweep(SPEC, ResultStore(tmp_path / "b"), workers=2, progress=False)
    assert _sorted(a).equals(_sorted(b))
    assert set(a["result.y"]) == {0, 1, 4, 10, 11, 14}
    store = ResultStore(tmp_path / "a")
    path = store.path(job_key("test-square", {"x": 1, "fail_below": 0.0}, 0))
    before = path.stat().st_mtime_ns
    CALLS.clear()
    run_sweep(SPEC, store, progress=False)
    assert path.stat().st_mtime_ns == before and CALLS == []  # a finished record is never recomputed


def test_corrupt_or_truncated_records_are_recomputed(tmp_path):
    store = ResultStore(tmp_path)
    run_sweep(SPEC, store, progress=False)
    path = store.path(job_key("test-square", {"x": 2, "fail_below": 0.0}, 10))
    path.write_text(path.read_text()[:20])  # truncated
    other = store.path(job_key("test-square", {"x": 1, "fail_below": 0.0}, 0))
    record = json.loads(other.read_text())
    record["result"]["y"] = 999  # tampered: the checksum no longer matches
    other.write_text(json.dumps(record))
    assert store.get(job_key("test-square", {"x": 2, "fail_below": 0.0}, 10)) is None
    CALLS.clear()
    with pytest.warns(CorruptRecordWarning, match="1 corrupt"):  # the truncated one was already discarded by get()
        df = run_sweep(SPEC, store, progress=False)
    assert sorted(df["result.y"]) == [0, 1, 4, 10, 11, 14]
    assert sorted(CALLS) == [(1, 0), (2, 10)]


def test_a_failing_config_records_its_error_and_only_it_is_retried(tmp_path):
    spec = SweepSpec("test-square", grid={"x": [-1, 3]}, seeds=(0,))
    store = ResultStore(tmp_path)
    df = run_sweep(spec, store, progress=False)
    bad = df[df.x == -1].iloc[0]
    assert bad.status == "error" and "below fail_below" in bad.error
    assert df[df.x == 3].iloc[0]["result.y"] == 9
    CALLS.clear()
    run_sweep(spec, store, progress=False)
    assert CALLS == [(-1, 0)]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(experiment=""), "experiment"),
        (dict(experiment="x", grid={"a": []}), "grid.a"),
        (dict(experiment="x", seeds=(-1,)), "seed"),
        (dict(experiment="x", grid={"a": [1]}, fixed={"a": 2}), "both"),
        (dict(experiment="x", threads=0), "threads"),
    ],
)
def test_invalid_sweep_specs_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SweepSpec(**kwargs)


@pytest.mark.parametrize(
    "spec, match",
    [
        (SweepSpec("no-such"), "not registered"),
        (SweepSpec("test-square", grid={"x": [1, 1000]}), r"x must lie in \[-100, 100\]"),  # the second job is invalid
        (SweepSpec("test-square", grid={"z": [1]}), r"unknown field.*'z'"),
    ],
)
def test_an_invalid_sweep_is_rejected_before_any_work(tmp_path, spec, match):
    CALLS.clear()
    with pytest.raises(ValueError, match=match):
        run_sweep(spec, ResultStore(tmp_path), progress=False)
    assert CALLS == [] and not any(tmp_path.rglob("*.json"))


def test_tables_round_trip_through_parquet_and_csv(tmp_path):
    df = run_sweep(SPEC, ResultStore(tmp_path / "s"), progress=False)
    pq, csv = save_table(df, tmp_path / "t.parquet", csv=tmp_path / "t.csv")
    back = load_table(pq)
    assert _sorted(back).equals(_sorted(df)) and list(back["result.ys"].iloc[0]) == list(df["result.ys"].iloc[0])
    assert _sorted(load_table(csv)).equals(_sorted(df)) and list(load_table(csv)["result.ys"].iloc[0]) == list(df["result.ys"].iloc[0])
    pq.write_bytes(pq.read_bytes()[:50])  # truncated
    with pytest.raises(ValueError, match="not a readable parquet"):
        load_table(pq)
    with pytest.raises(ValueError, match="table suffix"):
        save_table(df, tmp_path / "t.xlsx")


def test_the_gaussian_cell_matches_the_demo(tmp_path):
    from studies.gaussian.demo import DemoConfig, run_demo

    spec = SweepSpec("gaussian-cell", grid={"sampler": ["temperature=0.7"]}, seeds=(0,), fixed={"base": "under-dispersed"})
    row = run_sweep(spec, ResultStore(tmp_path), progress=False).iloc[0]
    demo = run_demo(DemoConfig(temperatures=(0.7,), bases={"under-dispersed": (0.85, 0.75)}), progress=False).iloc[0]
    assert row.status == "ok"
    assert row["result.s"] == pytest.approx(demo.s, rel=1e-12, abs=0) and row["result.best_w"] == pytest.approx(demo.best_w, rel=1e-9, abs=0)


# ---- executors: submitit gives the records of the local executor (Ray: tests/acceptance/test_cli.py) --

@pytest.mark.slow
def test_the_submitit_path_equals_the_local_one(tmp_path):
    pytest.importorskip("submitit")
    from neon_theory.run.sweeps import SubmititExecutor

    spec = SweepSpec("warmup-cell", grid={"dim": [1, 3]}, seeds=(0,), fixed={"draws": 200})
    cols = ["dim", "seed", "result.improvement_rate", "result.mean_delta"]
    local = run_sweep(spec, ResultStore(tmp_path / "local"), progress=False)
    executor = SubmititExecutor(folder=tmp_path / "submitit", cluster="local", poll_s=0.2)
    remote = run_sweep(spec, ResultStore(tmp_path / "submitit-store"), executor=executor, progress=False)
    assert (remote.status == "ok").all() and _sorted(remote, cols).equals(_sorted(local, cols))


# ---- SIGKILL half-way: a re-run loses nothing and recomputes nothing -----------------------

SLOW_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from neon_theory.run.sweeps import ResultStore, SweepSpec, experiment, run_sweep

    @experiment("slow-square")
    def slow(params, seed):
        with open(sys.argv[2], "a") as log:
            log.write(f"{params['x']}\\n")
        time.sleep(0.25)
        return {"y": params["x"] ** 2}

    run_sweep(SweepSpec("slow-square", grid={"x": list(range(12))}), ResultStore(sys.argv[1]), progress=False)
    """
)


@pytest.mark.slow
def test_a_sweep_killed_half_way_resumes_without_recomputation(tmp_path):
    script = tmp_path / "slow.py"
    script.write_text(SLOW_SCRIPT)
    store, log = tmp_path / "store", tmp_path / "log.txt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(script), str(store), str(log)], env=env)
    deadline = time.time() + 120
    while (len(ResultStore(store).keys()) if store.exists() else 0) < 4 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {ResultStore(store).get(k)["params"]["x"] for k in ResultStore(store).keys()}
    assert 4 <= len(finished) < 12, "the sweep must be killed half-way"
    started_before = log.read_text().split()
    log.write_text("")
    subprocess.run([sys.executable, str(script), str(store), str(log)], env=env, check=True, timeout=120)
    recomputed = {int(x) for x in log.read_text().split()}
    assert recomputed.isdisjoint(finished)  # no finished record is recomputed
    assert recomputed | finished == set(range(12)) and len(log.read_text().split()) == 12 - len(finished)
    assert len(started_before) >= len(finished)
    records = [ResultStore(store).get(k) for k in ResultStore(store).keys()]
    assert sorted(r["result"]["y"] for r in records) == [x * x for x in range(12)]


TOY_EXPERIMENTS = ("gaussian-cell", "warmup-cell", "token-cell", "ar-cell", "diffusion-cell", "flow-cell", "plane-cell")


@pytest.mark.parametrize("name", TOY_EXPERIMENTS)
def test_toy_experiment_configs_are_documented_and_round_trip_through_yaml(name):
    from neon_theory.run.config import from_yaml, to_yaml

    cls = EXPERIMENTS[name].config
    assert cls is not None and cls.__doc__
    assert from_yaml(cls, to_yaml(cls())) == cls()


@pytest.mark.parametrize(
    "name, params, match",
    [
        ("gaussian-cell", {"sampler": "temperature=0"}, "temperature=0.*temperature must lie in"),
        ("gaussian-cell", {"sampler": "top-k=2"}, "GaussianCell takes Temperature parts only"),
        ("gaussian-cell", {"base": "flat"}, "base"),
        ("warmup-cell", {"dim": 5, "n": 5}, "n"),
        ("token-cell", {"sampler": "top-k=9"}, "k must be at most vocab_size = 3"),
        ("token-cell", {"sampler": "top-p=1.5"}, "top-p=1.5.*p must lie in"),
        ("token-cell", {"sampler": "guidance=2"}, "categorical logits does not implement Guidance"),
        ("ar-cell", {"preset": "huge"}, "preset"),
        ("ar-cell", {"w_values": "0,1"}, "w_values"),
        ("ar-cell", {"sampler": "temperature=0.5+temperature=2"}, "ARCell takes one temperature"),
        ("diffusion-cell", {"sampler": "score-scale=-1"}, "score-scale=-1.*zeta must lie in"),
        ("diffusion-cell", {"sampler": "score-scale=1.1,where=update"}, "inside x̂₀"),
        ("flow-cell", {"sampler": "steps=0"}, r"steps=0.*n \(solver steps\) must be an integer in \[1, inf\]"),
        ("flow-cell", {"sampler": "temperature=0.5"}, "FlowCell takes Steps, Guidance parts only"),
        ("token-cell", {"knob": "top_k", "value": 2}, "the field 'knob' is gone; write sampler: temperature=T, top-k=k or top-p=p"),
        ("diffusion-cell", {"zeta": 1.1}, "the field 'zeta' is gone; write sampler: score-scale=ZETA"),
        ("plane-cell", {"preset": "x"}, "preset"),
    ],
)
def test_invalid_toy_experiment_params_are_rejected_by_name(name, params, match):
    with pytest.raises(ValueError, match=match):
        EXPERIMENTS[name].build(params)


def test_workers_must_be_positive():
    with pytest.raises(ValueError, match="workers"):
        LocalExecutor(0)


def test_records_frame_has_tidy_columns(tmp_path):
    df = run_sweep(SweepSpec("test-square", grid={"x": [1]}), ResultStore(tmp_path), progress=False)
    assert {"x", "fail_below", "seed", "status", "error", "result.y"} <= set(df.columns)
    assert isinstance(df, pd.DataFrame) and df.iloc[0].status == "ok"


USER_MODULE = """
from neon_theory.run.sweeps import experiment


@experiment("user-package-cell")
def cell(params, seed):
    return {{"y": params.get("x", 0) * {factor} + seed}}
"""


def test_editing_an_outside_experiment_invalidates_its_cached_records(tmp_path, monkeypatch):
    """An experiment registered from a user's own module: its source is part of the cache key."""
    import importlib

    from neon_theory.run.sweeps import package_version

    monkeypatch.syspath_prepend(str(tmp_path))
    source = tmp_path / "user_experiments_mod.py"
    spec = SweepSpec("user-package-cell", grid={"x": [1, 2]})
    ys = []
    for factor in (10, 100):
        source.write_text(USER_MODULE.format(factor=factor))
        package_version.cache_clear()
        sys.modules.pop("user_experiments_mod", None)
        importlib.import_module("user_experiments_mod")
        assert package_version("user_experiments_mod") != ""
        df = run_sweep(spec, ResultStore(tmp_path / "store"), progress=False)
        ys.append(sorted(df["result.y"]))
    assert ys == [[10, 20], [100, 200]]  # the edited code ran; no stale record was reused
    assert len(ResultStore(tmp_path / "store").keys()) == 4
    assert package_version("neon_theory.run.sweeps") == ""  # the engine is covered by code_version
    # each study's key covers its own cell's import closure (the families and shared modules it reaches)
    assert package_version("studies.gaussian.cells") != package_version("studies.official_ar.cells") != ""
    package_version.cache_clear()


def test_the_version_of_a_package_covers_the_code_its_cell_imports_and_nothing_else(tmp_path, monkeypatch):
    """A cell module's key covers its import closure: a helper it imports (at the top or inside a
    function) and that helper's package; a figure module of the same package that it does not import is left out."""
    from neon_theory.run.experiments import import_closure, package_version

    monkeypatch.syspath_prepend(str(tmp_path))
    pkg = tmp_path / "user_family_pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "model.py").write_text("SCALE = 1\n")
    (pkg / "helper.py").write_text("OFFSET = 0\n")
    (pkg / "cells.py").write_text("from .sub import model\n\ndef run():\n    from user_family_pkg.helper import OFFSET\n    return model.SCALE + OFFSET\n")
    (pkg / "figures.py").write_text("from . import cells\nTITLE = 'a'\n")

    def version():
        package_version.cache_clear()
        return package_version("user_family_pkg.cells")

    names = sorted(p.relative_to(tmp_path).as_posix() for p in import_closure("user_family_pkg.cells"))
    assert names == ["user_family_pkg/__init__.py", "user_family_pkg/cells.py", "user_family_pkg/helper.py",
                     "user_family_pkg/sub/__init__.py", "user_family_pkg/sub/model.py"]
    first = version()
    (pkg / "figures.py").write_text("from . import cells\nTITLE = 'b'\n")  # presentation only: records still valid
    assert version() == first
    for module, text in (("sub/model.py", "SCALE = 2\n"), ("helper.py", "OFFSET = 1\n")):  # code the cell runs: records are stale
        (pkg / module).write_text(text)
        assert version() != first
        first = version()
    package_version.cache_clear()


def test_a_checkout_that_is_not_installed_still_keys_the_families(monkeypatch):
    """Without package metadata (a source checkout on sys.path) the project's packages are still first-party."""
    import importlib.metadata

    from neon_theory.run.experiments import import_closure

    monkeypatch.setattr(importlib.metadata, "packages_distributions", lambda: {})
    files = {p.name for p in import_closure("studies.official_ar.cells")}
    assert {"autoregressive.py", "gmm.py", "toy.py"} <= files


def test_a_studys_key_covers_the_families_it_builds_and_not_the_figures():
    from neon_theory.run.experiments import import_closure

    root = Path(__file__).parents[2]
    files = {p.relative_to(root).as_posix() for p in import_closure("studies.official_ar.cells")}
    assert {"studies/official_ar/cells.py", "studies/official_ar/toy.py", "toy_models/autoregressive.py", "neon_theory/probe.py"} <= files
    assert not {"studies/official_ar/figures.py", "studies/catalogue/commands.py", "neon_theory/run/cli.py", "toy_models/diffusion.py"} & files


def test_a_sweep_file_can_name_the_module_that_registers_its_experiment(tmp_path, monkeypatch, capsys):
    from neon_theory.run.cli import main

    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "user_sweep_mod.py").write_text(USER_MODULE.format(factor=3).replace("user-package-cell", "user-sweep-cell"))
    sweep = tmp_path / "s.yaml"
    sweep.write_text("experiment: user-sweep-cell\nmodule: user_sweep_mod\ngrid: {x: [1, 2]}\nseeds: [0, 5]\n")
    code = main(["sweep", str(sweep), "--store", str(tmp_path / "store"), "--out", str(tmp_path / "t.csv"), "--json"])
    out = capsys.readouterr().out
    assert code == 0 and json.loads(out)["ok"] == 4
    assert sorted(pd.read_csv(tmp_path / "t.csv")["result.y"]) == [3, 6, 8, 11]
    sweep.write_text("experiment: user-sweep-cell\nmodule: no_such_module_here\n")
    code = main(["sweep", str(sweep), "--store", str(tmp_path / "store")])
    err = capsys.readouterr().err
    assert code == 2 and "module 'no_such_module_here' named by the sweep cannot be imported" in err and err.count("\n") == 1


@experiment("where-tensors-go")
def _where(params, seed):
    import torch

    return {"device": str(torch.zeros(1).device)}


def test_a_job_creates_its_tensors_on_the_sweeps_device_and_the_device_is_in_the_record_and_key():
    from neon_theory.run.sweeps import Job, job_key, run_job

    record = run_job(Job("where-tensors-go", __name__, {}, 0, "k", device="meta"))  # meta: a device that exists everywhere
    assert record["status"] == "ok" and record["result"] == {"device": "meta"} and record["device"] == "meta"
    assert run_job(Job("where-tensors-go", __name__, {}, 0, "k"))["result"] == {"device": "cpu"}
    cpu = job_key("where-tensors-go", {}, 0)
    assert job_key("where-tensors-go", {}, 0, device="cpu") == cpu != job_key("where-tensors-go", {}, 0, device="cuda:0")


def test_a_sweep_on_a_device_this_machine_lacks_is_refused_before_any_job(tmp_path, capsys):
    import torch

    from neon_theory.run.cli import main

    missing = "cuda:99" if torch.cuda.is_available() else "cuda"  # a device this machine lacks, on any machine
    with pytest.raises(ValueError, match=f"device '{missing}' was asked for but"):
        SweepSpec("where-tensors-go", device=missing).validate()
    with pytest.raises(ValueError, match="device must be one of"):
        SweepSpec("where-tensors-go", device="tpu").validate()
    sweep = tmp_path / "s.yaml"
    sweep.write_text("experiment: gaussian-cell\nseeds: [0]\n")
    code = main(["sweep", str(sweep), "--device", missing, "--store", str(tmp_path / "store")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("neon-theory: error: --device:") and err.count("\n") == 1
    assert not (tmp_path / "store").exists()
