"""One convention in every command (issue 22, items 4, 5, 7 and 8): uncertainty and the neutral
sampler in every output, the degenerate-cosine flag in the CLI's words, result fields documented
where a user looks, and the small inconsistencies between commands.
"""

import json
import warnings

import pandas as pd
import pytest

from neon_theory.run import cli
from neon_theory.run.cli import main
from neon_theory.samplers import UNDEFINED_AT_NEUTRAL


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _table(tmp_path, rows, name="r.csv"):
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False) if name.endswith(".csv") else pd.DataFrame(rows).to_parquet(path, index=False)
    return path


# ---- item 5: uncertainty and the neutral sampler -------------------------------------------


def test_align_prints_z_and_w_star_with_their_se_and_interval(capsys):
    code, out, _ = run(["align", "--mc", "4000", "--batches", "8"], capsys)
    lines = {line.split("=")[0].strip(): line for line in out.splitlines() if "=" in line}
    assert code == 0
    for name in ("s", "P-cosine", "z", "w*"):
        assert "±" in lines[name] and "95% interval [" in lines[name], lines[name]
    code, out, _ = run(["align"], capsys)  # exact: no spread to report, and it says so
    assert code == 0 and all("(exact)" in line for line in out.splitlines() if line.strip().startswith(("z ", "w* ")))


def test_align_at_the_neutral_sampler_says_undefined_in_text_and_json(capsys):
    for sampler in ("temperature=1", "std-temperature=1", "temperature=0.5+temperature=2"):
        code, out, _ = run(["align", "--sampler", sampler], capsys)
        lines = {line.split("=")[0].strip(): line for line in out.splitlines() if "=" in line}
        assert code == 0 and all(UNDEFINED_AT_NEUTRAL in lines[q] for q in ("s", "P-cosine", "w*")), out
        code, out, _ = run(["align", "--sampler", sampler, "--json"], capsys)
        d = json.loads(out)
        assert d["undefined"] == UNDEFINED_AT_NEUTRAL and d["sampler"]["sharpening"] == "neutral"
        assert all(d[k] is None for k in ("s", "s_se", "s_ci", "cosine", "cosine_se", "cosine_ci", "w_star"))
    code, out, _ = run(["align", "--json"], capsys)
    assert code == 0 and "undefined" not in json.loads(out) and json.loads(out)["s"] < 0


def _neutral_rows():
    """A cosine sweep over τ with records as the toys write them: null and the phrase at τ = 1."""
    rows = []
    for tau, c in ((0.5, -0.5), (1.0, None), (1.6, 0.5)):
        for seed in range(3):
            rows.append({"tau": tau, "seed": seed, "status": "ok", "result.cosine": None if c is None else c + 0.01 * seed,
                         "result.undefined": UNDEFINED_AT_NEUTRAL if c is None else None, "result.degenerate": tau == 1.6 and seed == 0})
    return rows


def test_results_shows_the_phrase_at_a_neutral_setting_in_every_format(tmp_path, capsys):
    path = _table(tmp_path, _neutral_rows())
    code, out, _ = run(["results", path, "--fields", "cosine"], capsys)
    neutral = [line for line in out.splitlines() if line.split() and line.split()[0] == "1"]
    assert code == 0 and len(neutral) == 1 and UNDEFINED_AT_NEUTRAL in neutral[0] and "not summarised" not in out
    code, out, _ = run(["results", path, "--fields", "cosine", "--format", "csv"], capsys)
    csv = pd.read_csv(pd.io.common.StringIO(out))
    assert code == 0 and list(csv.loc[csv.tau == 1.0, "undefined"]) == [UNDEFINED_AT_NEUTRAL] and csv.loc[csv.tau == 0.5, "undefined"].isna().all()
    code, out, _ = run(["results", path, "--fields", "cosine", "--json"], capsys)
    rows = {r["tau"]: r for r in json.loads(out)["rows"]}
    assert rows[1.0]["mean"] is None and rows[1.0]["undefined"] == UNDEFINED_AT_NEUTRAL and rows[0.5]["mean"] < 0


def test_the_toys_summary_shows_the_phrase_at_the_neutral_sampler_and_words_the_flag(capsys):
    from studies.catalogue.commands import _print_toy, toy_summary

    cosine = pd.DataFrame(_neutral_rows())
    best = pd.DataFrame([{"tau": 0.5, "ft_epochs": 50, "seed": s, "status": "ok", "result.best_w": 0.2, "result.best_fd": 0.05, "result.base_fd": 0.1}
                         for s in range(3)])
    summary = toy_summary({"best_w": best, "cosine": cosine}, "ar")
    at = {r["tau"]: r for r in summary["cosine"]}
    assert at[1.0]["undefined"] == UNDEFINED_AT_NEUTRAL and at[0.5]["undefined"] is None and at[1.6]["degenerate"] == 1
    _print_toy("ar", "smoke", [0, 1, 2], summary | {"figures": []})
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "P-cosine at tau = 1.000" in x)
    assert UNDEFINED_AT_NEUTRAL in line and "nan" not in line
    assert "degenerate in 1 of 3 seeds" in out and "--preconditioner" in out and "max_share" not in out


@pytest.mark.slow
def test_the_demo_says_the_phrase_and_its_json_is_null_at_the_neutral_sampler(tmp_path, capsys):
    code, out, _ = run(["demo", "--out", tmp_path, "-q"], capsys)
    rows_at_1 = [line for line in out.splitlines() if line.split()[1:2] == ["+1"]]
    assert code == 0 and len(rows_at_1) == 2 and all(line.rstrip().endswith(UNDEFINED_AT_NEUTRAL) for line in rows_at_1)  # in the table itself
    code, out, _ = run(["demo", "--out", tmp_path, "--json"], capsys)
    neutral = [r for r in json.loads(out)["rows"] if r["T"] == 1.0]
    assert code == 0 and neutral and all(r["s"] is None and r["cosine"] is None and r["undefined"] == UNDEFINED_AT_NEUTRAL for r in neutral)


# ---- item 4: the degenerate-cosine flag in the CLI's words ------------------------------


def test_the_degenerate_warning_is_worded_for_a_cli_user(capsys):
    from neon_theory.alignment import DegenerateCosineWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("degenerate P-cosine (see AlignmentReport.notes and max_share_d / max_share_s)", DegenerateCosineWarning, stacklevel=1)
    cli._flush_warnings([(str(w.message), w.category) for w in caught])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--preconditioner natural" in err and "--mc" in err and "max_share" not in err and "AlignmentReport" not in err


def test_align_and_results_word_the_degenerate_flag_for_a_cli_user(tmp_path, capsys):
    argv = ["align", "--dim", "1", "--data-cov", "1", "--model-cov", "1.2", "--model-mean", "0", "--sampler", "temperature=0.7"]
    code, out, _ = run([*argv, "--json"], capsys)
    assert code == 0 and json.loads(out)["degenerate"]  # r_s lies along the variance alone: one parameter carries all of it
    code, out, _ = run(argv, capsys)
    assert code == 0 and "--preconditioner natural" in out and "max_share" not in out
    code, out, _ = run(["results", _table(tmp_path, _neutral_rows())], capsys)
    assert code == 0 and "--preconditioner natural" in out and "max_share" not in out


# ---- item 7: outputs documented where a user looks --------------------------------------


def test_list_shows_each_result_field_with_its_meaning(capsys):
    code, out, _ = run(["list", "experiments", "ar-cell", "--json"], capsys)
    results = json.loads(out)["experiments"]["ar-cell"]["results"]
    assert code == 0 and {"best_w", "gain", "cosine", "s", "undefined", "degenerate"} <= set(results) and all(results.values())
    code, out, _ = run(["list", "experiments", "gaussian-cell"], capsys)
    lines = out.splitlines()
    assert code == 0 and any(line.startswith("  results") for line in lines) and max(map(len, lines)) <= 120
    for field in ("w_star_displacement", "base_nll", "gain"):
        assert any(line.split()[:1] == [field] for line in lines), field


def test_align_json_records_the_resolved_moments_and_preconditioner(capsys):
    code, out, _ = run(["align", "--json", "--preconditioner", "natural"], capsys)
    d = json.loads(out)
    r = d["resolved"]
    assert code == 0 and r["data_mean"] == [0.0, 0.0] and r["data_cov"] == [[2.0, 1.0], [1.0, 2.0]] and r["model_mean"] == [0.0, 0.0]
    assert sum(r["model_cov"], []) == pytest.approx([1.6, 0.8, 0.8, 1.6]) and "natural" in r["preconditioner"]["name"]
    P = r["preconditioner"]["matrix"]
    assert len(P) == len(P[0]) == 5 and P != [[float(i == j) for j in range(5)] for i in range(5)]  # p = 2D + D(D-1)/2, not I


# ---- item 8: small inconsistencies -------------------------------------------------------


def test_results_fields_take_the_stored_column_names_too(tmp_path, capsys):
    rows = [{"x": x, "seed": i, "status": "ok", "result.best_w": x + 0.1 * i, "result.y": float(i)} for x in (1.0, 2.0) for i in range(3)]
    path = _table(tmp_path, rows)
    outs = [run(["results", path, "--fields", fields, "--json"], capsys) for fields in ("best_w", "result.best_w", "best_w,result.best_w")]
    assert all(code == 0 for code, _, _ in outs)
    assert json.loads(outs[0][1])["rows"] == json.loads(outs[1][1])["rows"] == json.loads(outs[2][1])["rows"]  # one field, once
    code, out, _ = run(["results", "--help"], capsys)
    assert "result.best_w" in out


def test_sweep_device_defaults_to_auto_like_every_other_command():
    parser = cli.build_parser()
    assert parser.parse_args(["sweep", "s.yaml"]).device == parser.parse_args(["align"]).device == "auto"


def _cube_sweep(tmp_path, seeds: str):
    path = tmp_path / "cube.yaml"
    path.write_text(f"experiment: token-cell\nfixed: {{vocab_size: 2, length: 2, n_base: 20}}\nseeds: {seeds}\n")
    return path


def test_a_sweep_file_takes_seeds_as_a_range_like_the_cli(tmp_path, capsys):
    code, out, _ = run(["sweep", _cube_sweep(tmp_path, "0-4"), "--store", tmp_path / "store", "--dry-run", "--json"], capsys)
    assert code == 0 and json.loads(out)["seeds"] == [0, 1, 2, 3, 4]
    code, out, _ = run(["sweep", _cube_sweep(tmp_path, "'0,2,5'"), "--store", tmp_path / "store", "--dry-run", "--json"], capsys)
    assert code == 0 and json.loads(out)["seeds"] == [0, 2, 5]
    code, _, err = run(["sweep", _cube_sweep(tmp_path, "4-2"), "--store", tmp_path / "store", "--dry-run"], capsys)
    assert code == 2 and err.count("\n") == 1 and "seeds" in err and "[0, inf)" in err and "Traceback" not in err


def test_a_dry_run_creates_no_folder(tmp_path, capsys):
    store, out = tmp_path / "new" / "store", tmp_path / "new" / "out"
    code, _, _ = run(["sweep", _cube_sweep(tmp_path, "[0, 1]"), "--store", store, "--out", out, "--dry-run"], capsys)
    assert code == 0 and not (tmp_path / "new").exists()
    (tmp_path / "file").write_text("")
    code, _, err = run(["sweep", _cube_sweep(tmp_path, "[0]"), "--store", tmp_path / "file", "--dry-run"], capsys)
    assert code == 2 and err.count("\n") == 1 and "--store" in err and "folder" in err


def test_no_help_shows_a_doubled_percent_sign(capsys):
    for argv in (["results", "--help"], ["list", "--help"], ["--help"]):
        with pytest.raises(SystemExit):
            cli.build_parser().parse_args(argv)
        out = capsys.readouterr().out
        assert "%%" not in out
    code, out, _ = run(["list", "commands", "--json"], capsys)
    assert code == 0 and "95% t-interval" in json.loads(out)["commands"]["results"]
    code, out, _ = run(["results", "--help"], capsys)
    assert "95% t-interval" in " ".join(out.split())


def test_token_cell_documents_vocab_size_and_length_each_on_its_own_line(capsys):
    code, out, _ = run(["list", "experiments", "token-cell", "--json"], capsys)
    docs = {f["name"]: f["doc"] for f in json.loads(out)["experiments"]["token-cell"]["fields"]}
    assert docs["vocab_size"] != docs["length"] and "[2, 6]" in docs["vocab_size"] and "[1, 4]" in docs["length"]
    assert "[1, 4]" not in docs["vocab_size"] and "[2, 6]" not in docs["length"]


def test_the_sampler_help_shows_the_chain_syntax_and_the_example_runs(capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["align", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "temperature=0.8+top-k=5" in help_text and "temperature=0.8+std-temperature=0.9" in help_text
    code, out, _ = run(["align", "--sampler", "temperature=0.8+std-temperature=0.9", "--json"], capsys)
    assert code == 0 and json.loads(out)["sampler"]["temperature"] == pytest.approx(0.8 * 0.81)
