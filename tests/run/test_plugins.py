"""A user's own package adds an experiment, a figure, a preset and a command through entry points,
without editing this repository; the run layer reaches every family that way (the toys too)."""

import json
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from neon_theory.run import plugins
from neon_theory.run.cli import COMMANDS, main

EXPERIMENTS = '''
from dataclasses import dataclass

from neon_theory.run.experiments import experiment


@dataclass(frozen=True)
class Cell:
    x: float = 1.0

    def __post_init__(self):
        if not 0 <= self.x <= 10:
            raise ValueError(f"x must lie in [0, 10]; got {self.x}")


@experiment("user-plugin-cell", config=Cell)
def cell(cfg, seed):
    return {"y": SCALE * cfg.x + seed}


SCALE = 3
'''

FIGURES = '''
from neon_theory.run.figures import register_figure, register_preset
from neon_theory.run.plots import panels
from neon_theory.run.sweeps import SweepSpec

register_preset("tiny", "the user's own smallest preset")


def spec(preset):
    return SweepSpec("user-plugin-cell", grid={"x": [1.0, 2.0] if preset == "tiny" else [1.0, 2.0, 4.0]}, seeds=(0, 1))


register_figure("user-plugin-figure", "y vs x from the user's package", {"cells": spec},
                lambda f: panels(dict(df=f["cells"], x="x", y="result.y", ylabel="y")))
'''

COMMANDS_MODULE = '''
from neon_theory.run.cli import register_command


def run(args):
    return {"greeting": f"hello {args.who}"}


register_command("user-hello", "say hello from the user's package", lambda p: p.add_argument("--who", default="world"), run)
'''

ENTRY_POINTS = """
[neon_theory.experiments]
user_plugin_pkg = user_plugin_pkg.experiments

[neon_theory.figures]
user_plugin_pkg = user_plugin_pkg.figures

[neon_theory.commands]
user_plugin_pkg = user_plugin_pkg.commands
"""


@pytest.fixture
def user_package(tmp_path, monkeypatch):
    """An installed package (a dist-info on sys.path, as pip leaves it) registering one of each."""
    root = tmp_path / "site"
    pkg = root / "user_plugin_pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "experiments.py").write_text(EXPERIMENTS)
    (pkg / "figures.py").write_text(FIGURES)
    (pkg / "commands.py").write_text(COMMANDS_MODULE)
    info = root / "user_plugin_pkg-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: user-plugin-pkg\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(ENTRY_POINTS))
    monkeypatch.syspath_prepend(str(root))

    def forget():  # each test imports (and so registers) the package afresh, whatever ran before
        from neon_theory.run.experiments import EXPERIMENTS
        from neon_theory.run.figures import FIGURES, PRESETS

        plugins.load.cache_clear()
        COMMANDS.pop("user-hello", None)
        EXPERIMENTS.pop("user-plugin-cell", None)
        FIGURES.pop("user-plugin-figure", None)
        PRESETS.pop("tiny", None)
        for name in [m for m in sys.modules if m.startswith("user_plugin_pkg")]:
            del sys.modules[name]

    forget()
    yield root
    forget()


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_an_outside_experiment_runs_through_neon_theory_sweep_without_naming_a_module(user_package, tmp_path, capsys):
    sweep = tmp_path / "s.yaml"
    sweep.write_text("experiment: user-plugin-cell\ngrid: {x: [1, 2]}\nseeds: [0, 5]\n")  # no `module:`: found by its entry point
    code, out, err = _run(["sweep", sweep, "--store", tmp_path / "store", "--out", tmp_path / "t.csv", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["ok"] == 4
    assert sorted(pd.read_csv(tmp_path / "t.csv")["result.y"]) == [3, 6, 8, 11]
    sweep.write_text("experiment: user-plugin-cell\ngrid: {x: [1, 20]}\n")  # the user's own validation, by field
    code, _, err = _run(["sweep", sweep, "--store", tmp_path / "store"], capsys)
    assert code == 2 and "x must lie in [0, 10]" in err and err.count("\n") == 1


def test_an_outside_figure_and_preset_run_through_neon_theory_figures(user_package, tmp_path, capsys):
    store, out = tmp_path / "store", tmp_path / "figs"
    code, stdout, err = _run(["figures", "user-plugin-figure", "--preset", "tiny", "--store", store, "--out", out, "--json"], capsys)
    assert code == 0, err
    assert (out / "user-plugin-figure_tiny.png").stat().st_size > 1000 and (out / "user-plugin-figure_tiny.pdf").exists()
    assert len(list(store.rglob("*.json"))) == 4  # 2 x values × 2 seeds
    # the toys' figures sit in the same catalogue, and the user's preset is one more name in the one list
    from neon_theory.run.figures import FIGURES, PRESETS

    assert {"user-plugin-figure", "plane", "official-ar"} <= set(FIGURES) and {"tiny", "smoke", "paper"} <= set(PRESETS)


@pytest.mark.slow
def test_an_outside_figure_runs_in_a_fresh_process_that_loads_its_experiment_by_entry_point(user_package, tmp_path):
    """A fresh ``neon-theory figures`` finds the figure (figures group) and its experiment (experiments group)."""
    import os
    import subprocess

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(user_package), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "neon_theory.run.cli", "figures", "user-plugin-figure", "--preset", "tiny",
         "--store", str(tmp_path / "store"), "--out", str(tmp_path / "figs"), "--json"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "figs" / "user-plugin-figure_tiny.png").exists() and len(list((tmp_path / "store").rglob("*.json"))) == 4


def test_a_plugin_cannot_take_a_name_another_module_registered(user_package):
    from neon_theory.run.cli import register_command
    from neon_theory.run.experiments import experiment
    from neon_theory.run.figures import register_figure

    with pytest.raises(ValueError, match="experiment 'ar-cell' is already registered by studies.official_ar.cells"):
        experiment("ar-cell")(lambda cfg, seed: {})
    with pytest.raises(ValueError, match="command 'sweep' is already registered by neon_theory.run.commands"):
        register_command("sweep", "mine", lambda p: None, lambda args: {})
    plugins.load("neon_theory.figures")
    with pytest.raises(ValueError, match="figure 'plane' is already registered by studies.plane.figures"):
        register_figure("plane", "mine", {"x": lambda preset: None}, lambda frames: None)


def test_an_outside_command_is_added_to_the_cli(user_package, capsys):
    code, out, _ = _run(["user-hello", "--who", "reader", "--json"], capsys)
    d = json.loads(out)
    assert code == 0 and d.pop("meta")["command"] == "user-hello" and d == {"greeting": "hello reader"}


def test_a_broken_plugin_gives_one_warning_line_and_the_others_still_load(user_package, tmp_path, capsys):
    (user_package / "user_plugin_pkg" / "commands.py").write_text("raise RuntimeError('broken on purpose')\n")
    code, _, err = _run(["user-hello"], capsys)  # the command is missing: the error, then why
    assert code == 2 and "invalid choice: 'user-hello'" in err and "broken on purpose" in err.splitlines()[1]
    plugins.load.cache_clear()  # a fresh process
    table = tmp_path / "t.csv"
    table.write_text("x,seed,status,result.y\n1,0,ok,1.0\n1,1,ok,3.0\n")
    code, out, err = _run(["results", table], capsys)
    assert code == 0 and "2 ± 1" in out  # the CLI still works, and says once what it could not load
    assert err.count("\n") == 1 and err.startswith("neon-theory: warning: plugin 'user_plugin_pkg'") and "broken on purpose" in err
    with pytest.warns(plugins.PluginWarning, match="user_plugin_pkg.*broken on purpose"):
        plugins.load.cache_clear()
        loaded = plugins.load("neon_theory.commands")
    assert "studies.gaussian.commands" in loaded and "user_plugin_pkg.commands" not in loaded


def test_load_rejects_an_unknown_group():
    with pytest.raises(ValueError, match="group must be one of"):
        plugins.load("neon_theory.nope")


def test_the_engine_version_covers_the_engine_and_leaves_out_the_run_layer(tmp_path, monkeypatch):
    """code_version hashes every engine module outside neon_theory/run: an edit to a plot or the CLI keeps
    the records, an edit to the engine (here a copy of the package with one changed line) does not."""
    import shutil
    import subprocess
    import sys

    from neon_theory.run.experiments import code_version

    root = Path(__file__).parents[2]
    copy = tmp_path / "neon_theory"
    shutil.copytree(root / "neon_theory", copy, ignore=shutil.ignore_patterns("__pycache__"))

    def version() -> str:
        code = "from neon_theory.run.experiments import code_version; print(code_version())"
        return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(tmp_path), "PATH": ""},
                              capture_output=True, text=True, check=True).stdout.strip()

    first = version()
    assert first == code_version()  # the copy hashes as the installed package does
    (copy / "run" / "plots.py").write_text((copy / "run" / "plots.py").read_text() + "\n# a presentation edit\n")
    assert version() == first
    (copy / "alignment.py").write_text((copy / "alignment.py").read_text() + "\n# an engine edit\n")
    assert version() != first
    first = version()
    (copy / "run" / "executors.py").write_text((copy / "run" / "executors.py").read_text() + "\n# how a job is run and stored\n")
    assert version() != first  # the job runner shapes records (device context, threads, JSON), though it is in run/


def test_the_engine_imports_no_model_family_and_no_study():
    """The core engine and the run layer reach the families and studies only through entry points: no
    import of them anywhere in neon_theory (at the top or inside a function; naming them in text is fine)."""
    import ast

    root = Path(__file__).parents[2] / "neon_theory"
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.relative_to(root)}: {n}" for n in names if n.split(".")[0] in ("toy_models", "studies")]
    assert offenders == []
