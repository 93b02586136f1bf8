"""Property-based fuzz tests of the ``neon-theory`` command line (hypothesis).

The contract (module docstring of :mod:`neon_theory.run.cli`): bad input prints exactly one line
``neon-theory: error: ...`` to stderr, nothing to stdout, and exits 2 before any work; a
successful run exits 0; no traceback is ever printed.  ``main(argv)`` is called in-process
with stdout/stderr redirected to strings, and ``NEON_THEORY_TRACEBACK=1`` is set for the
module so that an unexpected exception raises in the test instead of hiding as exit 1.

What is fuzzed:

* ``align``: argument vectors drawn from pools of valid, invalid and edge values per option
  (edge: legal but extreme, either outcome is fine).  Any invalid value must give exit 2; an
  all-valid vector must give exit 0 with strict JSON on stdout.  Exact mode dominates; Monte
  Carlo only at ``--mc 2000`` and D <= 3, so an example takes well under a second.
* ``sweep``: YAML files assembled from valid and invalid pieces (experiment, grid, seeds,
  fixed, threads, stray keys, non-string keys) plus wholly malformed texts, for the fast
  experiment ``fuzz-cli`` registered here.  A valid file must give exit 0 with
  ``failed == 0`` and one record per (grid point, seed); an invalid one exit 2.
* ``demo``/``toys``/``plane``/``results``/``figures`` with at least one invalid argument: exit
  2, and the heavy entry points are replaced by a tripwire, so any work started fails the test.

Bounds: ``max_examples`` = ALIGN_EXAMPLES, SWEEP_EXAMPLES and REJECT_EXAMPLES below, with
``derandomize=True`` (never flaky) and ``deadline=None``; torch runs on one thread here.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st

from neon_theory.checks import check_choice, check_int, check_real
from neon_theory.run.cli import main
from neon_theory.run.sweeps import experiment

ALIGN_EXAMPLES = 250
SWEEP_EXAMPLES = 300
REJECT_EXAMPLES = 150

ERROR = "neon-theory: error: "
WARNING = "neon-theory: warning: "


def fuzz_settings(max_examples: int):
    """Bounded, deterministic hypothesis settings for one property."""
    return settings(max_examples=max_examples, deadline=None, derandomize=True)


@pytest.fixture(scope="module", autouse=True)
def _raise_unexpected_and_one_thread():
    """Make a bug raise (NEON_THEORY_TRACEBACK=1) and keep torch on one thread (2-core CI)."""
    old_env, old_threads = os.environ.get("NEON_THEORY_TRACEBACK"), torch.get_num_threads()
    os.environ["NEON_THEORY_TRACEBACK"] = "1"
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old_threads)
    if old_env is None:
        os.environ.pop("NEON_THEORY_TRACEBACK", None)
    else:
        os.environ["NEON_THEORY_TRACEBACK"] = old_env


def invoke(argv: list[str]) -> tuple[int, str, str]:
    """Run ``main(argv)`` in-process; return (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def assert_contract(argv, code: int, out: str, err: str) -> None:
    """Exit 0 or 2; on 2 one error line and an empty stdout; on 0 only one-line warnings on stderr."""
    assert code in (0, 2), f"exit {code} for {argv}: {err!r}"
    assert "Traceback" not in err, f"traceback for {argv}: {err}"
    if code == 2:
        assert out == "", f"stdout on error for {argv}: {out!r}"
        assert err.startswith(ERROR) and err.endswith("\n") and err.count("\n") == 1, f"not one error line for {argv}: {err!r}"
    else:
        assert all(line.startswith(WARNING) for line in err.splitlines()), f"stray stderr for {argv}: {err!r}"


def tokens(*pool) -> list[tuple[str, ...]]:
    """Pool entries as argv token tuples ('a b' → ('a', 'b'); a tuple is kept as is)."""
    return [p if isinstance(p, tuple) else tuple(p.split(" ")) for p in pool]


# --------------------------------------------------------------------------------------------
# align


#: unknown tokens, some with a newline (argparse quotes a bad value, but not an unknown token)
STRAY = [("stray",), ("--colour",), ("a\nb",), ("--co\nlour",), ("--model=a\nb",)]

#: option → {"valid"|"invalid"|"edge": [argv tokens]}; cov and mean pools depend on --dim (below)
ALIGN_POOLS = {
    "--sampler": {
        "valid": tokens("--sampler temperature=0.7", "--sampler std-temperature=0.8", "--sampler temperature=1"),
        "edge": tokens("--sampler temperature=1e-100", "--sampler temperature=1e100"),
        "invalid": tokens(
            *(f"--sampler {v}" for v in ("temperature=0", "temperature=-1", "temperature=nan", "temperature=inf", "temperature=1e308",
                                         "std-temperature=1e-300", "std-temperature=1e200", "topk=3", "temperature", "=0.5", "temperature=abc")),
            ("--sampler", ""),
        ),
    },
    "--model-scale": {
        "valid": tokens("--model-scale 0.8", "--model-scale 1.2"),
        "invalid": tokens("--model-scale 0", "--model-scale -1", "--model-scale nan", "--model-scale 1e300", "--model-scale inf", "--model-scale x"),
    },
    "--alpha": {
        "valid": tokens("--alpha 0.1", "--alpha 2"),
        "invalid": tokens("--alpha 0", "--alpha -1", "--alpha inf", "--alpha nan", "--alpha x"),
    },
    "--preconditioner": {
        "valid": tokens(*(f"--preconditioner {p}" for p in ("identity", "natural", "data-hessian", "star-hessian", "fisher-diag"))),
        "invalid": tokens("--preconditioner adamw", "--preconditioner Natural", ("--preconditioner", "")),
    },
    "--mc": {  # --mc with --batches: exact mode dominates; Monte Carlo only with a small --mc
        "valid": tokens("--mc 0", "--mc 0 --batches 10", "--mc 0 --batches 2", "--mc 2000 --batches 10"),
        "invalid": tokens("--mc 10 --batches 10", "--mc -5", "--mc x", "--mc 1e12 --batches 10", "--mc 1.5",
                          "--mc 2000 --batches 1", "--mc 0 --batches 0", "--mc 0 --batches x"),
    },
    "--seed": {
        "valid": tokens("--seed 0", "--seed 3", "--seed 1e3"),
        "invalid": tokens("--seed -1", "--seed x", "--seed 1.5", ("--seed", "")),
    },
    "stray": {"valid": [], "invalid": STRAY},
}
ALIGN_DIMS = (1, 2, 3)
INVALID_DIMS = ("0", "-1", "x", "1.5", "1e400", "", "100000")  # 100000: refused by the cost check
VALID_COVS = {1: ["1", "2.5"], 2: ["2,1;1,2", "1,0;0,1"], 3: ["2,0,0;0,1,0;0,0,1", "1,0.5,0;0.5,1,0;0,0,1"]}
VALID_MEANS = {1: ["0", "0.5"], 2: ["0,0", "0.1,0"], 3: ["0,0,0", "0.1,0,-0.2"]}
INVALID_COVS = ["1,2;2,1", "1,2;3", "a", "1e-300,0;0,1e-300", "1e300,0;0,1e300", "1,0;0,1e-9", "", "nan"]
INVALID_MEANS = ["1e60,0", "nan,0", "a,b", "inf", "0,,0"]


def align_pools(dim: int) -> dict:
    """Every option's pools for a run at ``dim``; a vector of another dimension is invalid."""
    other = lambda table: [v for d, vs in table.items() if d != dim for v in vs]  # noqa: E731
    pools = dict(ALIGN_POOLS)
    pools["--dim"] = {"valid": [("--dim", str(dim))], "invalid": [("--dim", v) for v in INVALID_DIMS]}
    for opt in ("--data-cov", "--model-cov"):
        pools[opt] = {"valid": [(opt, v) for v in VALID_COVS[dim]], "invalid": [(opt, v) for v in INVALID_COVS + other(VALID_COVS)]}
    for opt in ("--data-mean", "--model-mean"):
        pools[opt] = {"valid": [(opt, v) for v in VALID_MEANS[dim]], "invalid": [(opt, v) for v in INVALID_MEANS + ["", *other(VALID_MEANS)]]}
    return pools


@st.composite
def align_argv(draw):
    """(argv, kinds): up to two options invalid, the others absent, valid or edge."""
    dim = draw(st.sampled_from(ALIGN_DIMS))
    pools = align_pools(dim)
    bad = draw(st.sets(st.sampled_from(sorted(pools)), max_size=2))
    argv, kinds = ["align", "--json"], {}
    for opt in sorted(pools):
        kind = "invalid" if opt in bad else draw(st.sampled_from(["absent", "valid", "valid", "edge"] if opt != "--dim" else ["valid"]))
        if kind != "absent" and pools[opt].get(kind):
            argv += draw(st.sampled_from(pools[opt][kind]))
            kinds[opt] = kind
    return argv, kinds


def expected_align_codes(argv: list[str], kinds: dict) -> set[int]:
    """Exit codes allowed for the drawn option kinds."""
    invalid = {opt for opt, k in kinds.items() if k == "invalid"}
    if invalid:
        return {2}
    return {0, 2} if "edge" in kinds.values() else {0}


@pytest.mark.slow
@fuzz_settings(ALIGN_EXAMPLES)
@given(align_argv())
def test_align_fuzz(case):
    argv, kinds = case
    code, out, err = invoke(argv)
    assert_contract(argv, code, out, err)
    event(f"exit {code}")
    assert code in expected_align_codes(argv, kinds), f"exit {code} for {argv} ({kinds}): {err!r}"
    if code == 0:
        report = json.loads(out)
        assert report["s"] is None or math.isfinite(report["s"]), report["s"]
        mc = argv[argv.index("--mc") + 1] if "--mc" in argv else "0"
        assert report["mode"] == ("exact" if mc == "0" else f"monte-carlo n={mc}")


# --------------------------------------------------------------------------------------------
# sweep


@dataclass(frozen=True)
class FuzzConfig:
    x: float = 0.0
    n: int = 1
    label: str = "a"

    def __post_init__(self):
        check_real("x", self.x, -1e3, 1e3)
        check_int("n", self.n, 1, 100)
        check_choice("label", self.label, ("a", "b"))


@experiment("fuzz-cli", config=FuzzConfig)
def _fuzz_cli(cfg: FuzzConfig, seed: int) -> dict:
    """Never fails for a valid config: the sweep of a valid file always exits 0."""
    return {"y": cfg.x * cfg.n + seed, "label": cfg.label}


#: field → YAML scalars it accepts / rejects (exponent and integral floats included)
FIELD_VALUES = {
    "x": {"valid": ["0", "1", "-2.5", "1e-3", "1e2", "0x10"], "invalid": ["5e4", "abc", "null", "true", ".nan", ".inf", "[1, 2]", "{a: 1}"]},
    "n": {"valid": ["1", "7", "1e2", "2.0", "1_0"], "invalid": ["0", "5e4", "1.5", "'3'", "true", "-1", "1e-3"]},
    "label": {"valid": ["a", "b"], "invalid": ["c", "1", "null", "''", "[a]"]},
}
BAD_FIELD_NAMES = ["nosuch", "1", "null", "true", "2.5"]  # all but the first load as non-string keys
ANY_VALUE = sorted({v for pools in FIELD_VALUES.values() for kind in pools.values() for v in kind})
NOT_MAPPINGS = ["[x]", "3", "null", "x"]  # a grid or fixed that is not a mapping

#: the top-level pieces of a sweep file: valid and invalid YAML lines (None: the key is left out)
PIECES = {
    "experiment": {"valid": ["experiment: fuzz-cli"], "invalid": [None, "experiment: nosuch", "experiment: ''", "experiment: 1", "experiment: [fuzz-cli]"]},
    "seeds": {"valid": [None, "seeds: [0]", "seeds: [0, 1]", "seeds: [1e0]"],
              "invalid": ["seeds: [0, 0]", "seeds: [-1]", "seeds: x", "seeds: []", "seeds: 0", "seeds: [true]", "seeds: [0.5]"]},
    "threads": {"valid": [None, "threads: 1", "threads: 2", "threads: 1e0"],
                "invalid": ["threads: 0", "threads: x", "threads: -1", "threads: 1.5", "threads: true"]},
    "extra": {"valid": [None], "invalid": ["seedz: [0]", "1: 2", "null: x", "1: 2\nseedz: [0]"]},  # unknown keys
}
MALFORMED = [b"", b"   ", b"[1, 2]", b"a: [", b":::", b"\xff\xfe\x00\x01experiment", b"experiment: fuzz-cli\x00",
             b"experiment: x\nexperiment: y", b"? [1, 2]\n: 3", b"experiment: fuzz-cli\ngrid: {x: [1}", b"- - -\n  :"]


@st.composite
def field_entries(draw, as_list: bool, broken: bool, taken: tuple = ()):
    """A flow mapping of fields, lists for ``grid`` or scalars for ``fixed``: (text, names, list lengths).

    Valid entries use known fields (not in ``taken``) and accepted values; a broken mapping has
    one entry with an unknown or non-string name, a rejected value, an empty list, a scalar where
    a list is expected, or a field already in ``taken`` (the grid's, for ``fixed``).
    """
    free = [n for n in sorted(FIELD_VALUES) if n not in taken]
    names = draw(st.lists(st.sampled_from(free), unique=True, min_size=min(len(free), broken), max_size=len(free))) if free else []
    entries = {n: [draw(st.sampled_from(FIELD_VALUES[n]["valid"])) for _ in range(draw(st.integers(1, 2)) if as_list else 1)] for n in names}
    scalar = set() if as_list else set(names)
    if broken:
        damage = draw(st.sampled_from(["name", "value"] + (["empty", "scalar"] if as_list else []) + (["repeat"] if taken else [])))
        name = draw(st.sampled_from(BAD_FIELD_NAMES if damage == "name" else list(taken) if damage == "repeat" else sorted(FIELD_VALUES)))
        pool = FIELD_VALUES.get(name, {"valid": ANY_VALUE, "invalid": ANY_VALUE})
        value = draw(st.sampled_from(pool["invalid" if damage == "value" else "valid"]))
        if damage == "empty":
            entries[name] = []
        elif as_list and damage != "scalar":
            entries[name] = entries.get(name, [])[:1] + [value]
        else:
            entries[name] = [value]
            scalar.add(name)
    items = draw(st.permutations(list(entries.items())))
    text = ", ".join(f"{k}: {v[0]}" if k in scalar else f"{k}: [{', '.join(v)}]" for k, v in items)
    return "{" + text + "}", names, [len(v) for v in entries.values()]


@st.composite
def sweep_file(draw):
    """(file bytes, expected): expected is None (invalid) or the number of records.

    Up to two pieces of the file are broken, the others valid; a tenth of the files are malformed.
    """
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(MALFORMED)), None
    broken = draw(st.sets(st.sampled_from(sorted(PIECES) + ["grid", "fixed"]), max_size=2))
    lines = {piece: draw(st.sampled_from(pools["invalid" if piece in broken else "valid"])) for piece, pools in PIECES.items()}
    records, grid_names = 1, []
    for piece in ("grid", "fixed"):
        if piece in broken and draw(st.integers(0, 3)) == 0:
            lines[piece] = f"{piece}: {draw(st.sampled_from(NOT_MAPPINGS))}"
        elif piece in broken or draw(st.booleans()):
            text, names, lengths = draw(field_entries(piece == "grid", piece in broken, tuple(grid_names)))
            lines[piece] = f"{piece}: {text}"
            if piece == "grid":
                records, grid_names = math.prod(lengths), names
    seeds = lines["seeds"]
    records *= 1 if seeds is None else len(seeds.split(","))
    text = "\n".join(draw(st.permutations([line for line in lines.values() if line is not None]))) + "\n"
    return text.encode(), (None if broken else records)


@pytest.mark.slow
@fuzz_settings(SWEEP_EXAMPLES)
@given(sweep_file())
def test_sweep_fuzz(case):
    data, expected = case
    with tempfile.TemporaryDirectory() as tmp:
        path, table = Path(tmp) / "sweep.yaml", Path(tmp) / "out" / "t.csv"
        path.write_bytes(data)
        code, out, err = invoke(["sweep", str(path), "--store", f"{tmp}/store", "--out", str(table), "--json"])
        assert_contract(data, code, out, err)
        event(f"exit {code}")
        if expected is None:
            assert code == 2, f"invalid sweep file accepted: {data!r}"
        else:
            assert code == 0, f"valid sweep file rejected: {data!r}: {err!r}"
            summary = json.loads(out)
            assert summary["failed"] == 0 and summary["ok"] == summary["records"] and table.is_file()
            assert summary["records"] == expected, (data, summary)


# --------------------------------------------------------------------------------------------
# demo, toys, plane, results, figures: rejected before any work


class HeavyWorkStarted(Exception):
    """Raised by a tripwire: a command started its work although an argument is invalid."""


@contextlib.contextmanager
def tripwires():
    """Replace every heavy entry point of the commands with a function that raises."""

    def trip(*args, **kwargs):
        raise HeavyWorkStarted("heavy work started despite an invalid argument")

    targets = ["studies.gaussian.demo.run_demo", "studies.plane.toy.run_plane", "neon_theory.run.figures.make_figure",
               "neon_theory.run.sweeps.run_sweep"]
    with contextlib.ExitStack() as stack:
        for target in targets:
            stack.enter_context(mock.patch(target, trip))
        yield


# "--seed 1": an abbreviation of --seeds is not accepted (it would silently run seed 1 only)
SEEDS_BAD = tokens("--seeds 3-1", "--seeds 0-99999999999", "--seeds a", ("--seeds", ""), "--seeds -1", "--seeds 0,-2", "--seeds 0-1-2", "--seed 1")
PRESET_BAD = tokens("--preset huge", ("--preset", ""))
EXECUTOR_GOOD = tokens("--workers 2", "--executor local", "--json")
EXECUTOR_BAD = tokens("--workers 0", "--workers x", "--workers -1", "--executor dask", "--store {file}", "--slurm-cluster x")

#: command → base argv (every output under the example's folder), valid and invalid option groups, and
#: the positional argument's valid and invalid values where the command has one
TABLES = ("missing.csv", "missing.parquet", "t.txt", "corrupt.parquet", "garbage.csv", "nocols.csv", "empty.csv", "dir.csv", "noext")
COMMANDS = {
    "demo": dict(base=["demo", "--out", "{dir}/demo"], valid=tokens("--seed 0", "--seed 2", "--json"),
                 invalid=tokens("--seed -1", "--seed x", "--seed 1.5", "--out {file}", "--out {file}/sub") + STRAY),
    "toys": dict(base=["toys", "--store", "{dir}/store", "--out", "{dir}/figs"],
                 valid=tokens("--preset smoke", "--which ar", "--which both", "--seeds 0", "--seeds 0-1", "--json"),
                 invalid=SEEDS_BAD + PRESET_BAD + tokens("--which gan", "--out {file}", "--store {file}", "--device tpu") + STRAY),
    "plane": dict(base=["plane", "--store", "{dir}/store", "--out", "{dir}/figs"],
                  valid=tokens("--preset smoke", "--seeds 0", "--seeds 0,1", "--json"),
                  invalid=SEEDS_BAD + PRESET_BAD + tokens("--out {file}", "--figures {file}", "--which ar") + STRAY),
    "results": dict(base=["results"], valid=tokens("--json"), invalid=STRAY,
                    positional={"valid": [], "invalid": [(f"{{dir}}/{name}",) for name in TABLES]}),
    "figures": dict(base=["figures", "--store", "{dir}/store", "--out", "{dir}/figs"],
                    valid=tokens("--preset smoke") + EXECUTOR_GOOD,
                    invalid=tokens("--out {file}", "--preset huge", "--seeds 2-1", "--device tpu") + EXECUTOR_BAD + STRAY,
                    positional={"valid": tokens("all", "metric-vs-w", "plane"), "invalid": tokens("nosuch", ("",))}),
}


def make_inputs(folder: Path) -> None:
    """The files the rejected arguments point at: a regular file, a .txt, corrupt tables, a folder named .csv."""
    (folder / "file").write_text("not a folder")
    (folder / "t.txt").write_text("seed,status\n0,ok\n")
    (folder / "corrupt.parquet").write_bytes(b"PAR1\x00\x01garbage" * 8)
    (folder / "garbage.csv").write_bytes(bytes(range(256)) * 4)
    (folder / "nocols.csv").write_text("a,b\n1,2\n")
    (folder / "empty.csv").write_text("")
    (folder / "noext").write_text("seed,status\n0,ok\n")
    (folder / "dir.csv").mkdir()


@st.composite
def rejected_argv(draw):
    """An argv of one command with at least one invalid group: an option, a stray token or the positional."""
    spec = COMMANDS[draw(st.sampled_from(sorted(COMMANDS)))]
    positional = spec.get("positional")
    bad_positional = positional is not None and (not positional["valid"] or draw(st.booleans()))
    bad = draw(st.lists(st.sampled_from(spec["invalid"]), min_size=0 if bad_positional else 1, max_size=2))
    overridden = {g[0] for g in bad}  # a valid value for the same option would override the invalid one
    groups = bad + draw(st.lists(st.sampled_from([g for g in spec["valid"] if g[0] not in overridden]), max_size=3))
    if positional is not None:
        groups.append(draw(st.sampled_from(positional["invalid" if bad_positional else "valid"])))
    return spec["base"] + [t for g in draw(st.permutations(groups)) for t in g]


@pytest.mark.slow
@fuzz_settings(REJECT_EXAMPLES)
@given(rejected_argv())
def test_other_commands_reject_bad_input_before_any_work(template):
    with tempfile.TemporaryDirectory() as tmp, tripwires():
        make_inputs(Path(tmp))
        argv = [t.format(dir=tmp, file=f"{tmp}/file") for t in template]
        code, out, err = invoke(argv)
    assert_contract(template, code, out, err)
    assert code == 2, f"exit {code} for {template}: {err!r}"


# --------------------------------------------------------------------------------------------
# concrete nasty inputs


@pytest.mark.parametrize(
    "argv, code, needles",
    [
        (["align", "--sampler", "std-temperature=1e-300"], 2, ["std-temperature", "[1e-50, 1e+50]"]),
        (["align", "--sampler", "std-temperature=1e200"], 2, ["std-temperature", "[1e-50, 1e+50]"]),
        (["align", "--sampler", "temperature=1e308"], 2, ["temperature", "[1e-100, 1e+100]"]),
        (["align", "--sampler", "=0.5"], 2, ["--sampler", "temperature=VALUE"]),
        (["align", "--dim", "1e400"], 2, ["--dim"]),
        (["align", "--dim", "100000"], 2, ["--dim", "more than this machine has"]),
        (["align", "--mc", "1e12", "--batches", "10"], 2, ["--mc", "--yes"]),
        (["align", "--data-cov", "1,0;0,1e-9"], 2, ["--data-cov", "condition number"]),
        (["align", "--data-cov", "1e-300,0;0,1e-300"], 2, ["--data-cov", "eigenvalues"]),
        (["align", "--data-mean", "1e60,0"], 2, ["--data-mean"]),
        (["align", "--preconditioner", "adamw"], 2, ["--preconditioner"]),
        (["align", "a\nb"], 2, ["unrecognized"]),  # an unknown token with a newline
        (["align", "--json", "--sampler", "temperature=1e100"], 0, []),
        (["align", "--json", "--seed", "1e3", "--mc", "2000", "--batches", "10"], 0, []),
    ],
)
def test_concrete_nasty_align_inputs(argv, code, needles):
    got = invoke(argv)
    assert_contract(argv, *got)
    assert got[0] == code, got
    for needle in needles:
        assert needle in got[2], got[2]


@pytest.mark.parametrize(
    "text, needle",
    [
        ("experiment: fuzz-cli\ngrid: {x: [1e-3, 5e4]}\n", "x must lie in"),
        ("experiment: fuzz-cli\ngrid: {n: [1.5]}\n", "n must be an integer"),
        # YAML keys of mixed types (str and int/None/bool): any one-line message will do
        ("experiment: fuzz-cli\ngrid: {1: [1], x: [1]}\n", ""),
        ("experiment: fuzz-cli\nfixed: {nosuch: 1, null: 2}\n", ""),
        ("experiment: fuzz-cli\n1: 2\nseedz: [0]\n", ""),
        ("1: 2\nexperiment: fuzz-cli\n", "field names must be text"),
        ("experiment: x\nexperiment: y\n", "appears twice"),  # PyYAML alone would keep the last one
    ],
)
def test_concrete_nasty_sweep_files(text, needle, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    argv = ["sweep", str(path), "--store", str(tmp_path / "store"), "--out", str(tmp_path / "t.csv")]
    got = invoke(argv)
    assert_contract(text, *got)
    assert got[0] == 2 and needle in got[2], got
