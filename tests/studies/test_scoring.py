"""The shape tests behind the precision/recall claims, as properties over random curves."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from studies.scoring import MONOTONE_RHO, falls_along, inverted_u, quadratic_vertex

GRID = list(np.round(np.linspace(-1, 1, 21), 6))


@given(steps=st.lists(st.floats(1e-3, 1.0), min_size=21, max_size=21), start=st.floats(-10, 10))
def test_a_strictly_falling_curve_falls_and_its_reverse_does_not(steps, start):
    falling = list(start - np.cumsum(steps))
    assert falls_along(GRID, falling)
    assert not falls_along(GRID, falling[::-1])


@given(a=st.floats(0.05, 5.0), vertex=st.floats(-0.65, 0.65), c=st.floats(-5, 5))
def test_a_concave_parabola_peaking_inside_the_grid_is_an_inverted_u(a, vertex, c):
    y = [c - a * (w - vertex) ** 2 for w in GRID]
    curvature, found = quadratic_vertex(GRID, y)
    assert curvature < 0 and abs(found - vertex) < 1e-6
    assert inverted_u(GRID, y)
    assert not inverted_u(GRID, [-v for v in y])  # a U
    assert not inverted_u(GRID, [c - a * (w - 1.5) ** 2 for w in GRID])  # concave, but peaking beyond the grid: a rise, not a U


def test_a_rise_that_levels_off_is_not_an_inverted_u():
    """Concave fits peaking inside the grid (vertices 0.56, 0.94, 0.56), but nothing falls after the peak."""
    for curve in ([min(w, 0.0) for w in GRID], [min(w, 0.3) for w in GRID], [1 - np.exp(-2 * (w + 1)) for w in GRID]):
        assert not inverted_u(GRID, curve)


def test_a_flat_curve_neither_falls_nor_peaks():
    assert not falls_along(GRID, [0.5] * 21)  # Spearman of a constant is undefined: not a fall
    assert not inverted_u(GRID, [0.5] * 21)
    assert MONOTONE_RHO < 0
