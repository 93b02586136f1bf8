"""``neon-theory scorecard``: every registered claim judged at the smoke preset, the report written, nothing recomputed on a re-run."""

import json
import re
from pathlib import Path

import pytest
from helpers import one_line_error, run_cli

from neon_theory.run.claims import VERDICTS
from neon_theory.run.scorecard import claims_of

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """The whole smoke scorecard, once (about 1.5 min on 2 workers)."""
    from neon_theory.run.cli import main

    root = tmp_path_factory.mktemp("scorecard")
    code = main(["scorecard", "--preset", "smoke", "--store", str(root / "store"), "--out", str(root / "out"), "--no-figures", "--workers", "2", "-q"])
    return code, root


@pytest.mark.slow
def test_the_smoke_scorecard_judges_every_claim_and_writes_the_report(smoke):
    code, root = smoke
    assert code == 0
    report = json.loads((root / "out" / "scorecard.json").read_text())
    names = [c.name for c in claims_of()]
    assert [r["claim"] for r in report["rows"]] == names and len(names) >= 10
    assert all(r["verdict"] in VERDICTS for r in report["rows"])
    assert sum(report["counts"].values()) == len(names)
    md = (root / "out" / "SCORECARD.md").read_text()
    for name in names:
        assert f"`{name}`" in md
    rows = {r["claim"]: r for r in report["rows"]}
    # exact values: the over-dispersed base is a counterexample, the under-dispersed one satisfies the law
    gauss = rows["sign-law-gaussian"]
    assert gauss["verdict"] == "holds under a condition" and "over-dispersed" in gauss["condition"]
    assert gauss["control_result"]["outcome"] == "fail"
    # two seeds cannot pass a bar of 0.8: the smoke preset decides no statistical claim
    counts = [n for n in names if "Clopper" in rows[n]["rule"] and rows[n]["effect"]["n"] == 2]  # seeds as the units
    assert len(counts) >= 9 and all(rows[n]["verdict"] == "inconclusive" for n in counts)
    assert report["meta"]["provenance"]["code_version"]


@pytest.mark.slow
def test_a_rerun_reads_the_store_and_recomputes_nothing(smoke, capsys):
    _, root = smoke
    before = sorted(p.name for p in (root / "store").rglob("*.json"))
    code, out, _ = run_cli(["scorecard", "--preset", "smoke", "--store", root / "store", "--out", root / "again", "--no-figures", "-q"], capsys)
    assert code == 0 and "report:" in out
    assert sorted(p.name for p in (root / "store").rglob("*.json")) == before
    first = json.loads((root / "out" / "scorecard.json").read_text())["rows"]
    again = json.loads((root / "again" / "scorecard.json").read_text())["rows"]
    assert first == again


def test_one_claim_with_its_figure(tmp_path, capsys):
    code, out, _ = run_cli(["scorecard", "--preset", "smoke", "--only", "sign-law-gaussian", "--store", tmp_path / "s", "--out", tmp_path / "o", "-q"], capsys)
    assert code == 0 and "holds under a condition" in out
    row = json.loads((tmp_path / "o" / "scorecard.json").read_text())["rows"][0]
    assert row["figure"] == "over-dispersed" and Path(row["figure_paths"][0]).is_file()
    assert f"judges 1 of the {len(claims_of())} registered claims" in (tmp_path / "o" / "SCORECARD.md").read_text()


def _report(folder: Path) -> dict:
    return json.loads((folder / "scorecard.json").read_text())


def test_merge_updates_the_report_and_each_row_names_its_commit(tmp_path, capsys):
    common = ["scorecard", "--preset", "smoke", "--store", tmp_path / "s", "--out", tmp_path / "o", "--no-figures", "-q"]
    assert run_cli([*common, "--only", "sign-law-gaussian"], capsys)[0] == 0
    first = _report(tmp_path / "o")
    row = first["rows"][0]
    assert row["judged_at"] and first["meta"]["judged_at"] == [row["judged_at"]]
    # a row judged by other code (its commit rewritten), then a second claim merged in
    first["rows"][0]["judged_at"] = "0123456789ab"
    gone = first["rows"][0] | {"claim": "a-claim-no-longer-registered"}
    (tmp_path / "o" / "scorecard.json").write_text(json.dumps(first | {"rows": [*first["rows"], gone]}))
    assert run_cli([*common, "--only", "warmup-closed-form", "--merge"], capsys)[0] == 0
    merged = _report(tmp_path / "o")
    rows = {r["claim"]: r for r in merged["rows"]}
    assert set(rows) == {"sign-law-gaussian", "warmup-closed-form"}
    assert rows["sign-law-gaussian"] == first["rows"][0]  # kept as it was, commit included
    assert [r["claim"] for r in merged["rows"]] == [c.name for c in claims_of() if c.name in rows]  # the registry's order
    assert "0123456789ab" in merged["meta"]["judged_at"] and len(merged["meta"]["judged_at"]) == 2
    assert sum(merged["counts"].values()) == 2 and merged["meta"]["judged"] == 2
    assert merged["meta"]["merged"] == {"kept": ["sign-law-gaussian"], "dropped": ["a-claim-no-longer-registered"]}
    md = (tmp_path / "o" / "SCORECARD.md").read_text()
    assert "rows judged at 2 commits" in md and "judged at commit 0123456789ab" in md and "`a-claim-no-longer-registered`" in md
    # a claim judged again replaces its row, not a second one; without --merge the report is replaced
    assert run_cli([*common, "--only", "sign-law-gaussian", "--merge"], capsys)[0] == 0
    again = _report(tmp_path / "o")
    assert [r["claim"] for r in again["rows"]] == [r["claim"] for r in merged["rows"]]
    assert {r["claim"]: r["judged_at"] for r in again["rows"]}["sign-law-gaussian"] != "0123456789ab"
    assert run_cli([*common, "--only", "sign-law-gaussian"], capsys)[0] == 0
    assert [r["claim"] for r in _report(tmp_path / "o")["rows"]] == ["sign-law-gaussian"]


@pytest.mark.parametrize("report, needle", [
    ({"meta": {"preset": "paper"}, "rows": []}, "is at preset 'paper', not 'smoke'"),
    ("not json", "is not a scorecard report"),
    ({"rows": []}, "is not a scorecard report"),
    ({"meta": {"preset": "smoke", "provenance": "x"}, "rows": []}, "is not a scorecard report"),
    ({"meta": {"preset": "smoke"}, "rows": [{"claim": "sign-law-gaussian"}]}, "is not a scorecard report"),  # a row without its fields
    ({"meta": {"preset": "smoke"}, "rows": [{"claim": ["unhashable"]}]}, "is not a scorecard report"),
])
def test_merge_refuses_a_report_it_cannot_extend(report, needle, tmp_path, capsys):
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "scorecard.json").write_text(report if isinstance(report, str) else json.dumps(report))
    code, _, err = run_cli(["scorecard", "--preset", "smoke", "--only", "sign-law-gaussian", "--merge", "--store", tmp_path / "s",
                            "--out", tmp_path / "o"], capsys)
    assert code == 2
    one_line_error(err, needle)
    assert "--merge" in err and not (tmp_path / "s").exists()  # refused before any work


@pytest.mark.parametrize("argv, needle", [
    (["--only", "no-such-claim"], "--only must be one of"),
    (["--only", ","], "--only must name at least one claim"),
    (["--seeds", "x"], "--seeds"),
])
def test_bad_input_is_one_line_naming_the_option(argv, needle, tmp_path, capsys):
    code, _, err = run_cli(["scorecard", "--store", tmp_path / "s", "--out", tmp_path / "o", *argv], capsys)
    assert code == 2
    one_line_error(err, needle)


def test_every_claim_names_a_test_and_a_figure_that_exist():
    from neon_theory.run import plugins
    from neon_theory.run.figures import FIGURES

    plugins.load("neon_theory.figures")
    for claim in claims_of():
        if claim.figure:
            assert claim.figure in FIGURES, claim.name
        if claim.test:
            path, _, name = claim.test.partition("::")
            assert (ROOT / path).is_file(), claim.test
            assert not name or re.search(rf"def {re.escape(name)}\(", (ROOT / path).read_text()), claim.test
