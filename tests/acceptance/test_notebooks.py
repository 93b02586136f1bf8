"""The notebooks are thin jupytext pairs with a papermill ``parameters`` cell (nbmake executes them)."""

from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = sorted(p for p in (Path(__file__).parents[2] / "notebooks").glob("*.py") if p.name != "conftest.py")


def test_there_is_a_notebook_per_figure_group():
    assert {p.stem for p in NOTEBOOKS} >= {"alignment", "neon_w", "warmup", "plane"}


@pytest.mark.parametrize("script", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_pair_is_in_sync_and_has_a_smoke_parameters_cell(script):
    paired = nbformat.read(script.with_suffix(".ipynb"), as_version=4)
    text = jupytext.read(script)
    sources = lambda nb: [(c.cell_type, c.source.strip()) for c in nb.cells]  # noqa: E731
    assert sources(paired) == sources(text), f"{script.name} and its .ipynb differ: run jupytext --sync"
    params = [c for c in paired.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and 'preset = "smoke"' in params[0].source
    code = "\n".join(c.source for c in paired.cells if c.cell_type == "code")
    assert "class " not in code  # logic lives in the package


@pytest.mark.parametrize("script", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_pair_records_the_jupytext_version(script):
    """A fresh machine installs the newest jupytext: a recorded version (or format version) would
    make `jupytext --sync` rewrite the pair, so the project's metadata filter drops it."""
    for path in (script, script.with_suffix(".ipynb")):
        text = path.read_text()
        assert "jupytext_version" not in text and "format_version" not in text, path.name
    assert "-jupytext.text_representation" in (script.parents[1] / "pyproject.toml").read_text()


def test_jupytext_sync_leaves_every_pair_unchanged(tmp_path):
    """`jupytext --sync` on a copy of the pairs (either file the newer) rewrites nothing."""
    import os
    import shutil

    from jupytext.cli import jupytext as jupytext_cli

    folder = Path(__file__).parents[2] / "notebooks"
    for newer in (".py", ".ipynb"):
        copy = tmp_path / newer.strip(".")
        shutil.copytree(folder, copy, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "*.ipynb_checkpoints"))
        for p in copy.iterdir():  # one side of each pair newer than the other, as after an edit
            os.utime(p, (2e9, 2e9) if p.suffix == newer else (1e9, 1e9))
        before = {p.name: p.read_bytes() for p in copy.iterdir() if p.is_file()}
        jupytext_cli(["--sync", "--quiet", *(str(copy / p.name) for p in NOTEBOOKS)])
        after = {p.name: p.read_bytes() for p in copy.iterdir() if p.is_file()}
        assert after == before, sorted(k for k in before if after.get(k) != before[k])
