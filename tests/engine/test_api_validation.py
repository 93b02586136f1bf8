"""The Python API: bad values raise ValueError (naming the parameter), nothing else.
"""









import matplotlib

matplotlib.use("Agg")


import pytest  # noqa: E402

from neon_theory.run import plugins  # noqa: E402

plugins.load("neon_theory.experiments")  # registers the studies' cells




import torch  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from neon_theory import Guidance, ScoreScale, Steps, Temperature, TopK, TopP, alignment, merge, predicted_w_star  # noqa: E402
from neon_theory.preconditioners import Diagonal, exact_inverse, identity  # noqa: E402
from neon_theory.run.sweeps import (  # noqa: E402
    ResultStore,
    load_table,  # noqa: E402
    make_executor,
)

# ---- the Python API: bad values raise ValueError (naming the parameter), nothing else ----------


GARBAGE = st.one_of(
    st.none(),
    st.text(max_size=5),
    st.sampled_from([float("nan"), float("inf"), -1, 0, 1e308, -1e308, True]),
    st.builds(lambda v: torch.tensor(v), st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=0, max_size=3)),
    st.builds(lambda: torch.ones(1, 1)),
)


VEC = torch.tensor([1.0, 2.0])


ENTRY_POINTS = {
    "alignment(r_d)": lambda v: alignment(v, VEC, identity()),
    "alignment(P)": lambda v: alignment(VEC, VEC, v),
    "alignment(alpha)": lambda v: alignment(VEC, VEC, identity(), alpha=v),
    "alignment(level)": lambda v: alignment(VEC, VEC, identity(), level=v),
    "predicted_w_star(s)": lambda v: predicted_w_star(v, 1.0, 1.0),
    "merge(w)": lambda v: merge({"a": VEC}, {"a": VEC}, v),
    "merge(other)": lambda v: merge({"a": VEC}, v, 1.0),
    "Temperature": Temperature,
    "TopK": TopK,
    "TopP": TopP,
    "Guidance": Guidance,
    "Steps": Steps,
    "ScoreScale": ScoreScale,
    "Diagonal": Diagonal,
    "exact_inverse": exact_inverse,
    # a text value is a valid path: only the other kinds are tried (no folders created here)
    "ResultStore": lambda v: isinstance(v, str) or ResultStore(v),
    "load_table": lambda v: isinstance(v, str) or load_table(v),
    "make_executor(workers)": lambda v: make_executor("local", v),
}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@given(value=GARBAGE)
def test_public_entry_points_reject_garbage_with_value_error(entry, value):
    """Either the value is accepted or a ValueError is raised: never a TypeError or ZeroDivisionError."""
    try:
        ENTRY_POINTS[entry](value)
    except ValueError as e:
        assert str(e) and "\n" not in str(e).strip()
