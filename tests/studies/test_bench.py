"""The bench's own arithmetic and its re-implementation of the official estimator (no timing is asserted)."""

import json
import math
import statistics
from dataclasses import replace

import pytest

from studies.bench import bench
from studies.bench.bench import BenchConfig, _ratio, _summary


def test_efficiency_is_inverse_variance_per_cpu_second_and_the_ratio_carries_an_f_interval():
    official = _summary([0.1, -0.1, 0.1, -0.1], [1.0] * 4)  # SD = 0.1155, 1 CPU-s
    toolkit = _summary([0.01, -0.01, 0.01, -0.01], [2.0] * 4, ses=[0.01] * 4)  # SD 10x smaller, twice the time
    assert official["efficiency"] == pytest.approx(1 / (statistics.stdev([0.1, -0.1] * 2) ** 2 * 1.0))
    r = _ratio(toolkit, official)
    assert r["ratio"] == pytest.approx(100 / 2)
    lo, hi = r["ratio_ci95"]
    assert lo < 50 < hi and hi / lo > 20  # F(3, 3): a wide interval with four repeats
    assert r["mean_difference"] == pytest.approx(0.0) and r["mean_difference_z"] == pytest.approx(0.0)
    assert toolkit["sd_over_se"] == pytest.approx(statistics.stdev([0.01, -0.01] * 2) / 0.01)


@pytest.mark.parametrize(
    "kwargs, match", [({"bases": 0}, "bases"), ({"repeats": 3}, "repeats"), ({"zeta": 0.0}, "zeta"), ({"base_preset": "huge"}, "base_preset")],
)
def test_bench_config_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BenchConfig(**kwargs)


def test_the_official_estimator_and_the_toolkits_plain_probe_estimate_the_same_cosine():
    """On the AR toy (no loss noise) both target cos(r_d, P r_s) with P the Adam-minibatch P at B = 1024,
    on the same number of rows (so the same finite-N bias): the means over 12 repeats with fresh
    data agree within 4 combined SEs."""
    from neon_theory.rng import generator
    from neon_theory.samplers import Temperature
    from studies.official_ar.toy import ARToyConfig, ar_base, ar_cosine_probe

    cfg = replace(ARToyConfig.preset("smoke"), n_pop=8192, grad_batch=1024, cos_estimator="plain")
    model = ar_base(cfg, 0)
    ours = [ar_cosine_probe(model, cfg, 0, rep=r).report(0.5).cosine for r in range(1, 13)]
    theirs = [bench._official_once(model, Temperature(0.5, "std"), 8192, 1, 1024, generator(0, f"test-official/{r}")) for r in range(12)]
    se = math.sqrt(statistics.variance(ours) / 12 + statistics.variance(theirs) / 12)
    assert abs(statistics.mean(ours) - statistics.mean(theirs)) <= 4 * se
    assert all(-1 <= c <= 1 for c in theirs)


@pytest.mark.slow
def test_bench_runs_from_the_cli_at_smoke_size_and_writes_json_and_markdown(tmp_path, monkeypatch, capsys):
    from neon_theory.run.cli import main

    monkeypatch.setattr(bench, "memory", lambda sizes: [{"n": int(n), "peak_rss_added_mib": 0.0, "peak_rss_mib": 1.0} for n in sizes])  # subprocesses: not here
    fake_pass = {"model": "m", "batch": 8, "rows": 8, "engine_rows_per_s": 1.0, "ratio": 1.0, "ratio_range": (1.0, 1.0)}
    monkeypatch.setattr(bench, "gradient_pass", lambda: [fake_pass])
    real_context = bench.device_context
    monkeypatch.setattr(bench, "device_context", lambda: real_context(repeats=1, steps=2))
    real_scaling = bench.scaling
    monkeypatch.setattr(bench, "scaling", lambda device: real_scaling(device, sizes=(256, 512), rows_per_model=32))
    real_ensemble = bench.ensemble_scaling
    monkeypatch.setattr(bench, "ensemble_scaling", lambda device: real_ensemble(device, sizes=(1, 2), steps=2, rows=256))
    assert main(["bench", "--preset", "smoke", "--out", str(tmp_path), "--repeats", "4", "--json"]) == 0
    report = json.loads((tmp_path / "bench.json").read_text())
    assert {"machine", "config", "efficiency", "gradient_pass", "device_context", "memory", "table"} <= set(report)
    assert report["device_context"]["bare_s"] > 0 and report["device_context"]["context_s"] > 0
    estimators = {(r["toy"], r["estimator"]) for r in report["efficiency"]}
    assert {("diffusion", "official"), ("diffusion", "variance-reduced"), ("ar", "official"), ("ar", "plain"), ("ar", "exact")} <= estimators
    exact = [r for r in report["efficiency"] if r["estimator"] == "exact"]
    assert all(r["sd"] == 0 and r["rule_change"] < 1e-12 and r["ratio"] is None and 0 < r["cost_vs_official"] for r in exact)
    assert all(r["ratio"] > 0 for r in report["efficiency"] if r["estimator"] not in ("official", "exact"))
    assert (tmp_path / "bench-scaling.png").stat().st_size > 0 and b"FontFile2" in (tmp_path / "bench-scaling.pdf").read_bytes()  # TrueType
    assert {r["model"] for r in report["scaling"] if r["axis"] == "parameters"} >= {"MLP 32", "UNet 16x16"}
    ensemble = [r for r in report["scaling"] if r["axis"] == "ensemble"]
    assert [r["models"] for r in ensemble] == [1, 2] and all(r["models_per_s_as_one"] > 0 and r["ratio"] > 0 for r in ensemble)
    md = (tmp_path / "bench.md").read_text()
    assert md.count("\n| ") == len(report["table"]) + 1 and "torch" in md
    json.loads(capsys.readouterr().out)  # --json prints one JSON document


def test_bench_rejects_a_bad_option_before_any_work(tmp_path, capsys):
    from neon_theory.run.cli import main

    assert main(["bench", "--preset", "smoke", "--bases", "0", "--out", str(tmp_path)]) == 2
    assert "--bases" in capsys.readouterr().err


def test_the_toys_and_two_workers_rows_name_their_targets(monkeypatch):
    """--toys times toy_seeds seeds of each official toy and the smoke catalogue with 1 vs 2 workers;
    the table states each against the issue's target (5 seeds ≤ 60 s / 120 s, 2 workers ≥ 1.8×)."""
    calls = []

    def fake(toys, preset, seeds, workers=1):
        calls.append((toys, preset, seeds, workers))
        return (10.0 if workers == 1 else 6.0), 1.0

    monkeypatch.setattr(bench, "_figure_seconds", fake)
    toys, two = bench.full_toys(3), bench.two_workers()
    assert [c[:3] for c in calls[:2]] == [(("official-diffusion",), "paper", (0, 1, 2)), (("official-ar",), "paper", (0, 1, 2))]
    assert [c[3] for c in calls[2:]] == [1, 2] and two["ratio"] == pytest.approx(10 / 6)
    report = {"config": {"threads": 1}, "efficiency": [], "gradient_pass": [], "memory": [{"n": 1, "peak_rss_added_mib": 0.0, "peak_rss_mib": 1.0}],
              "toys": toys, "two_workers": two}
    rows = bench.summary_table(report)
    targets = [r["target"] for r in rows]
    assert "≤ 120 s for 5 seeds" in targets and "≤ 60 s for 5 seeds" in targets and "≥ 1.8×" in targets
    assert any("seeds 0–2" in r["what"] and "3 s per seed" in r["toolkit"] for r in rows)
    with pytest.raises(ValueError, match="toy_seeds"):
        bench.BenchConfig(toy_seeds=0)
