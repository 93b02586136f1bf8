"""The notebooks are thin jupytext pairs with a papermill ``parameters`` cell (nbmake executes them)."""

from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.py"))


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
    assert "def " not in code and "class " not in code  # logic lives in the package
