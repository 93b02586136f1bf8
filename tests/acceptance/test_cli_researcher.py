"""What a researcher sees at the command line: list, sweep --dry-run, cache counts, logs,
--verbose/--quiet, results tables, self-describing JSON and records, SLURM options, a fast --help.
"""

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from helpers import CubeCell
from scipy import stats

from neon_theory.run.cli import main
from neon_theory.run.experiments import experiment
from neon_theory.run.store import ResultStore

CALLS: list = []


@experiment("test-cube", config=CubeCell)
def _cube(cfg, seed):
    CALLS.append((cfg.x, seed))
    return {"y": cfg.scale * cfg.x**3 + cfg.offset + seed, "y_se": 0.5, "exact": cfg.x * 2.0, "flag": seed == 1}


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _sweep_file(tmp_path, xs=(1.0, 2.0), seeds=(0, 1, 2)):
    path = tmp_path / "cube.yaml"
    path.write_text(f"experiment: test-cube\nmodule: {__name__}\ngrid: {{x: {list(xs)}}}\nseeds: {list(seeds)}\n")
    return path


def test_list_names_every_field_with_type_default_and_range(capsys):
    code, out, _ = run(["list", "experiments", "gaussian-cell", "--json"], capsys)
    fields = {f["name"]: f for f in json.loads(out)["experiments"]["gaussian-cell"]["fields"]}
    sampler = fields["sampler"]
    assert code == 0 and sampler["type"] == "str" and sampler["default"] == "temperature=0.5" and "T in [1e-100, 1e100]" in sampler["doc"]
    assert fields["n_synthetic"]["default"] == 20000 and "[2, inf)" in fields["n_synthetic"]["doc"]
    code, out, _ = run(["list"], capsys)
    assert code == 0 and max(map(len, out.splitlines())) <= 120
    for needle in ("experiment ar-cell", "figures:", "cosine-vs-sharpness", "presets:", "smoke", "commands:", "sweep"):
        assert needle in out


def test_every_registered_experiment_documents_every_field(capsys):
    code, out, _ = run(["list", "experiments", "--json"], capsys)
    from neon_theory.run import plugins

    installed = set(plugins.load("neon_theory.experiments"))  # the packages' experiments, not those these tests register
    undocumented = [f"{n}.{f['name']}" for n, e in json.loads(out)["experiments"].items() if e["module"] in installed for f in e["fields"] if not f["doc"]]
    assert {e["module"] for e in json.loads(out)["experiments"].values()} >= installed
    assert code == 0 and undocumented == []


def test_list_rejects_an_unknown_experiment_in_one_line(capsys):
    code, out, err = run(["list", "experiments", "nope"], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1 and "not registered" in err and "gaussian-cell" in err


def test_dry_run_counts_jobs_cached_and_estimates_time_without_running(tmp_path, capsys):
    sweep, store = _sweep_file(tmp_path), tmp_path / "store"
    CALLS.clear()
    code, out, _ = run(["sweep", sweep, "--store", store, "--dry-run", "--json"], capsys)
    d = json.loads(out)
    assert code == 0 and CALLS == [] and (d["jobs"], d["cached"], d["to_run"]) == (6, 0, 6) and d["estimate_seconds"] is None
    assert not list(store.glob("*/*.json"))  # nothing was written
    code, out, _ = run(["sweep", sweep, "--store", store, "--out", tmp_path, "--json"], capsys)
    d = json.loads(out)
    assert code == 0 and (d["cached"], d["ran"], d["ok"]) == (0, 6, 6) and d["tables"] == [str(tmp_path / "cube.parquet")]
    bigger = _sweep_file(tmp_path, xs=(1.0, 2.0, 3.0, 4.0))
    CALLS.clear()
    code, out, _ = run(["sweep", bigger, "--store", store, "--dry-run", "--workers", "4", "--json"], capsys)
    d = json.loads(out)
    times = [r["seconds"] for r in (ResultStore(store).get(k) for k in ResultStore(store).keys())]
    assert code == 0 and CALLS == [] and (d["jobs"], d["cached"], d["to_run"]) == (12, 6, 6)
    assert d["seconds_per_job"] == pytest.approx(float(np.median(times)), rel=1e-12)
    assert d["estimate_seconds"] == pytest.approx(float(np.median(times)) * math.ceil(6 / 4), rel=1e-12)
    code, out, _ = run(["sweep", bigger, "--store", store, "--dry-run"], capsys)
    assert code == 0 and "12 jobs" in out and "6 from the cache" in out and "6 to run" in out and "nothing was run" in out


def test_a_sweep_says_what_came_from_the_cache_and_logs_every_job(tmp_path, capsys):
    sweep, store = _sweep_file(tmp_path), tmp_path / "store"
    code, out, err = run(["sweep", sweep, "--store", store, "--out", tmp_path / "t.csv", "-v"], capsys)
    assert code == 0 and "6 jobs: 0 from the cache, 6 ran; 6 ok, 0 failed" in out
    assert err.count("job ") == 6 and "seed=2" in err  # --verbose: a line per job on stderr
    (log,) = (store / "logs").glob("*.log")
    lines = log.read_text().splitlines()
    assert sum(" job " in line for line in lines) == 6 and "provenance" in lines[2] and lines[-1].endswith("done: 0 failed")
    code, out, err = run(["sweep", sweep, "--store", store, "--out", tmp_path / "t.csv", "-q"], capsys)
    assert code == 0 and "0 ran" in out and "6 from the cache" in out and err == "" and "log:" not in out
    assert len(list((store / "logs").glob("*.log"))) == 1  # nothing ran: no new log
    code, _, err = run(["sweep", sweep, "--store", store, "-v", "-q"], capsys)
    assert code == 2 and "not allowed with" in err


def test_records_and_json_outputs_describe_themselves(tmp_path, capsys):
    sweep, store = _sweep_file(tmp_path, seeds=(0,)), tmp_path / "store"
    code, out, _ = run(["sweep", sweep, "--store", store, "--out", tmp_path / "t.csv", "--json"], capsys)
    meta = json.loads(out)["meta"]
    assert code == 0 and meta["command"] == "sweep" and meta["inputs"]["file"] == str(sweep) and meta["wall_seconds"] > 0
    assert "t-interval" in meta["conventions"]["interval"] and "density temperature" in meta["conventions"]["temperature"]
    assert meta["provenance"]["packages"]["torch"] and meta["provenance"]["code_version"].startswith("0.1.0+")
    s = ResultStore(store)
    record = s.get(s.keys()[0])
    assert record["provenance"]["packages"]["numpy"] == np.__version__ and record["seconds"] >= 0 and record["conventions"]["merge"]
    git = record["provenance"]["git"]
    assert git is None or len(git["sha"]) == 40


def _table(tmp_path, rows):
    path = tmp_path / "r.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_results_gives_n_mean_se_and_the_t_interval_per_setting(tmp_path, capsys):
    ys = {1.0: [1.0, 2.5, 4.0, 3.0], 2.0: [8.0, 7.0, 9.5, 8.5]}
    rows = [{"x": x, "lr": 0.1, "seed": i, "status": "ok", "result.y": y, "result.y_se": 9.0, "result.exact": 2 * x, "result.flag": i == 1}
            for x, v in ys.items() for i, y in enumerate(v)]
    rows.append({"x": 1.0, "lr": 0.1, "seed": 9, "status": "error", "result.y": 1e9})
    code, out, _ = run(["results", _table(tmp_path, rows), "--json"], capsys)
    d = json.loads(out)
    assert code == 0 and d["varying"] == ["x"] and d["constants"]["lr"] == 0.1 and d["failed_records"] == 1
    by = {(r["x"], r["field"]): r for r in d["rows"]}
    for x, v in ys.items():
        lo, hi = stats.t.interval(0.95, len(v) - 1, loc=np.mean(v), scale=stats.sem(v))
        r = by[(x, "y")]
        assert r["n_seeds"] == 4 and r["mean"] == pytest.approx(np.mean(v), rel=1e-12) and r["se"] == pytest.approx(stats.sem(v), rel=1e-12)
        assert (r["ci_low"], r["ci_high"]) == pytest.approx((lo, hi), rel=1e-12)
        assert by[(x, "exact")]["se_kind"] == "exact" and by[(x, "exact")]["se"] is None  # the same in every seed: no SE
        assert by[(x, "flag")]["n_true"] == 1  # a flag is counted, not averaged
    assert ("y_se" not in {f for _, f in by}) and (1.0, "y") in by  # a within-run SE is not a result
    code, out, _ = run(["results", _table(tmp_path, rows), "--fields", "y"], capsys)
    # by hand: SD 1.25, SE 0.625, t(0.975, 3) = 3.1824 -> 2.625 ± 1.989
    assert code == 0 and "2.625 ± 0.62" in out and "[0.636, 4.614]" in out and "(exact)" not in out


def test_one_seed_shows_its_own_se_and_no_interval(tmp_path, capsys):
    rows = [{"x": x, "seed": 0, "status": "ok", "result.y": x, "result.y_se": 0.25} for x in (1.0, 2.0)]
    code, out, _ = run(["results", _table(tmp_path, rows), "--json"], capsys)
    r = json.loads(out)["rows"][0]
    assert code == 0 and r["se"] == 0.25 and r["se_kind"] == "within run" and r["ci_low"] is None
    code, out, _ = run(["results", _table(tmp_path, rows)], capsys)
    assert "1 ± 0.25 (run)" in out


def test_results_formats_and_unknown_fields(tmp_path, capsys):
    rows = [{"x": x, "seed": s, "status": "ok", "result.y": x + s} for x in (1.0, 2.0) for s in (0, 1)]
    path = _table(tmp_path, rows)
    code, out, _ = run(["results", path, "--format", "csv"], capsys)
    back = pd.read_csv(__import__("io").StringIO(out))
    assert code == 0 and list(back["mean"]) == [1.5, 2.5] and list(back["n_seeds"]) == [2, 2]
    code, out, _ = run(["results", path, "--format", "markdown"], capsys)
    assert code == 0 and out.splitlines()[0].startswith("| x") and set(out.splitlines()[1]) <= {"|", "-", " "}
    code, out, err = run(["results", path, "--fields", "nope"], capsys)
    assert code == 2 and "field 'nope'" in err and "['y']" in err and err.count("\n") == 1


def test_results_summarises_curves_over_w_per_w(tmp_path, capsys):
    rows = [{"T": 0.5, "w_values": json.dumps([0.0, 1.0]), "seed": s, "status": "ok", "result.nll_at_w": json.dumps([1.0 + s, 0.5 + 2 * s])}
            for s in (0, 1, 2)]
    code, out, _ = run(["results", _table(tmp_path, rows), "--json"], capsys)
    by = {r["w"]: r for r in json.loads(out)["rows"]}
    assert code == 0 and by[0.0]["mean"] == pytest.approx(2.0) and by[1.0]["mean"] == pytest.approx(2.5) and by[1.0]["n_seeds"] == 3


def test_a_paper_sized_table_fits_in_120_columns(tmp_path, capsys):
    """The official diffusion toy's best-w sweep at the paper preset (its real grid and fields, random values)."""
    from neon_theory.run.sweeps import get_experiment
    from studies.official_diffusion.figures import diffusion_best_w_spec

    spec = diffusion_best_w_spec("paper")
    exp = get_experiment(spec.experiment)
    rng = np.random.default_rng(0)
    fields = ["best_w", "best_fd", "base_fd", "gain", "at_boundary", "ft_steps_used", "cosine", "cosine_se", "s", "s_se", "max_share_d"]
    rows = [exp.canonical(p) | {"seed": s, "status": "ok"} | {f"result.{f}": float(rng.normal()) / 7 for f in fields} for p, s in spec.jobs()]
    assert len(rows) == len(spec.jobs()) >= 20
    code, out, _ = run(["results", _table(tmp_path, [{k: json.dumps(v) if isinstance(v, list) else v for k, v in r.items()} for r in rows])], capsys)
    assert code == 0 and max(map(len, out.splitlines())) <= 120


def test_slurm_options_reach_submitit_and_a_bad_one_is_named(tmp_path, capsys, monkeypatch):
    pytest.importorskip("submitit")
    from neon_theory.run import cli

    seen = {}

    def fake(kind, workers, **options):
        seen.update(options)
        raise ValueError("stop here")

    monkeypatch.setattr("neon_theory.run.sweeps.make_executor", fake)
    sweep = tmp_path / "s.yaml"
    sweep.write_text(f"experiment: test-cube\nmodule: {__name__}\nslurm: {{mem_gb: 8, slurm_account: file-acct, slurm_qos: low}}\n")
    argv = ["sweep", sweep, "--store", tmp_path / "st", "--executor", "slurm", "--slurm-folder", tmp_path / "sub",
            "--slurm-time", 30, "--slurm-gpus", 1, "--slurm-account", "cli-acct", "--slurm-param", "slurm_constraint=a100"]
    code, _, err = run(argv, capsys)
    assert code == 2 and "stop here" in err
    assert seen["timeout_min"] == 30 and seen["gpus_per_node"] == 1 and seen["mem_gb"] == 8 and seen["slurm_qos"] == "low"
    assert seen["slurm_account"] == "cli-acct" and seen["slurm_constraint"] == "a100"  # the CLI overrides the sweep file
    monkeypatch.undo()
    code, _, err = run(["sweep", sweep, "--store", tmp_path / "st", "--executor", "slurm", "--slurm-cluster", "local",
                        "--slurm-folder", tmp_path / "sub", "--slurm-param", "nonsense=1"], capsys)
    assert code == 2 and "submitit parameters" in err and err.count("\n") == 1
    assert cli.slurm_parameters(type("A", (), {"slurm_param": ["x=[1, 2]"]})()) == {"x": [1, 2]}


def test_help_imports_neither_torch_nor_a_model_family():
    code = ("import sys\nfrom neon_theory.run.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'toy_models.gaussian', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_dry_run_leaves_a_corrupt_record_in_place(tmp_path, capsys):
    sweep, store = _sweep_file(tmp_path, seeds=(0,)), tmp_path / "store"
    assert run(["sweep", sweep, "--store", store, "--out", tmp_path, "-q"], capsys)[0] == 0
    s = ResultStore(store)
    path = s.path(s.keys()[0])
    path.write_text("{truncated")
    code, out, _ = run(["sweep", sweep, "--store", store, "--dry-run", "--json"], capsys)
    assert code == 0 and json.loads(out)["to_run"] == 1 and path.read_text() == "{truncated"


def test_reserved_slurm_names_are_refused_in_one_line(tmp_path, capsys):
    pytest.importorskip("submitit")
    sweep = tmp_path / "s.yaml"
    sweep.write_text(f"experiment: test-cube\nmodule: {__name__}\n")
    base = ["sweep", sweep, "--store", tmp_path / "st", "--executor", "slurm", "--slurm-cluster", "local", "--slurm-folder", tmp_path / "sub"]
    code, _, err = run(base + ["--slurm-param", "workers=2"], capsys)
    assert code == 2 and "cannot set 'workers'" in err and err.count("\n") == 1
    sweep.write_text(f"experiment: test-cube\nmodule: {__name__}\nslurm: {{folder: /tmp/x}}\n")
    code, _, err = run(base, capsys)
    assert code == 2 and "cannot set ['folder']" in err and err.count("\n") == 1
