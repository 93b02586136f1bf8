import importlib
import json

import pytest

from neon_theory.sweeps import EXPERIMENTS, ResultStore, SweepSpec, experiment, job_key, run_sweep


importlib.import_module("toy_models.experiments")  # registers the toy experiments


@experiment("test-square")
def _square(params, seed):
    if params["x"] < 0:
        raise ValueError("x must be >= 0")
    return {"y": params["x"] ** 2 + seed}


SPEC = SweepSpec("test-square", grid={"x": [0, 1, 2]}, seeds=(0, 10))


def test_grid_expands_params_times_seeds():
    jobs = SPEC.jobs()
    assert len(jobs) == 6 and jobs[0] == ({"x": 0}, 0)
    assert SweepSpec.from_dict(SPEC.to_dict()) == SPEC


def test_results_are_cached_and_identical_for_any_number_of_workers(tmp_path):
    a = run_sweep(SPEC, ResultStore(tmp_path / "a"), workers=1, progress=False)
    b = run_sweep(SPEC, ResultStore(tmp_path / "b"), workers=2, progress=False)
    cols = ["x", "seed", "result.y"]
    assert a[cols].sort_values(cols).reset_index(drop=True).equals(b[cols].sort_values(cols).reset_index(drop=True))
    assert set(a["result.y"]) == {0, 1, 4, 10, 11, 14}
    store = ResultStore(tmp_path / "a")
    path = store.path(job_key("test-square", {"x": 1}, 0))
    before = path.stat().st_mtime_ns
    run_sweep(SPEC, store, progress=False)
    assert path.stat().st_mtime_ns == before  # a finished record is never recomputed


def test_corrupt_or_truncated_records_are_recomputed(tmp_path):
    store = ResultStore(tmp_path)
    run_sweep(SPEC, store, progress=False)
    path = store.path(job_key("test-square", {"x": 2}, 10))
    path.write_text(path.read_text()[:20])  # truncated
    other = store.path(job_key("test-square", {"x": 1}, 0))
    record = json.loads(other.read_text())
    record["result"]["y"] = 999  # tampered: the checksum no longer matches
    other.write_text(json.dumps(record))
    assert store.get(job_key("test-square", {"x": 2}, 10)) is None
    df = run_sweep(SPEC, store, progress=False)
    assert sorted(df["result.y"]) == [0, 1, 4, 10, 11, 14]


def test_a_failing_config_records_its_error_and_only_it_is_retried(tmp_path):
    spec = SweepSpec("test-square", grid={"x": [-1, 3]}, seeds=(0,))
    store = ResultStore(tmp_path)
    df = run_sweep(spec, store, progress=False)
    bad = df[df.x == -1].iloc[0]
    assert bad.status == "error" and "x must be >= 0" in bad.error
    assert df[df.x == 3].iloc[0]["result.y"] == 9
    ok_path = store.path(job_key("test-square", {"x": 3}, 0))
    before = ok_path.stat().st_mtime_ns
    run_sweep(spec, store, progress=False)
    assert ok_path.stat().st_mtime_ns == before


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(experiment=""), "experiment"),
        (dict(experiment="x", grid={"a": []}), "grid"),
        (dict(experiment="x", seeds=(-1,)), "seed"),
        (dict(experiment="x", grid={"a": [1]}, fixed={"a": 2}), "both"),
    ],
)
def test_invalid_sweeps_are_rejected_before_any_work(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SweepSpec(**kwargs)


def test_unknown_experiment_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="not registered"):
        run_sweep(SweepSpec("no-such"), ResultStore(tmp_path), progress=False)
    assert "gaussian-demo-cell" in EXPERIMENTS


def test_gaussian_demo_cell_experiment_matches_the_demo(tmp_path):
    spec = SweepSpec("gaussian-demo-cell", grid={"T": [0.7]}, seeds=(0,), fixed={"base": "under-dispersed", "factors": [0.85, 0.75]})
    df = run_sweep(spec, ResultStore(tmp_path), progress=False)
    row = df.iloc[0]
    assert row.status == "ok" and row["result.s"] < 0 and row["result.best_w"] > 0
