"""The solver study's cell: its standard error against the spread over seeds, and the solvers' bias
on both targets (the A-MONO claim's cells)."""

import numpy as np
import pytest

from studies.solvers.cells import SolverCell, solver_cell


@pytest.mark.parametrize("target", ["gaussian", "ring"])
def test_the_trace_se_matches_the_spread_over_seeds(target):
    """The target's own draws (no solver bias): SD of tr Cov over 60 seeds against the mean reported SE,
    within 0.75-1.33 (the SD of 60 draws is within ±20% with probability > 0.99)."""
    runs = [solver_cell(SolverCell(target=target, solver="exact", n=2000), seed) for seed in range(60)]
    shifts = np.array([r["trace_shift"] for r in runs])
    ratio = shifts.std(ddof=1) / np.mean([r["trace_se"] for r in runs])
    assert 0.75 < ratio < 1.33, ratio
    assert abs(shifts.mean()) < 4 * shifts.std(ddof=1) / np.sqrt(len(shifts))  # unbiased: k = 4 SE


def test_ddim_sharpens_and_heun_widens_the_ring_at_few_steps():
    """Exact score on the ring, seed 3, 5 steps: DDIM's law is sharper than the target's and Heun's is wider,
    each beyond 4 SE; DDIM's bias shrinks with the steps (common noise)."""
    ddim = [solver_cell(SolverCell(target="ring", solver="ddim", steps=k, n=5000), 3) for k in (5, 20)]
    heun = solver_cell(SolverCell(target="ring", solver="heun", steps=5, n=5000), 3)
    assert ddim[0]["trace_shift"] < -4 * ddim[0]["trace_se"] and heun["trace_shift"] > 4 * heun["trace_se"]
    assert abs(ddim[1]["trace_shift"]) < abs(ddim[0]["trace_shift"])


@pytest.mark.parametrize("field, value, needle", [("solver", "rk4", "solver"), ("steps", 0, "steps"), ("target", "moons", "target"), ("n", 10, "n")])
def test_bad_solver_cells_name_the_field(field, value, needle):
    with pytest.raises(ValueError, match=needle):
        SolverCell(**{field: value})
