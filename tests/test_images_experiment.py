"""``image-cell``: s and the P-cosine on digits for the three image families, through the sweep engine."""

import math
import subprocess
import sys

import pytest

from neon_theory.run.sweeps import ResultStore, SweepSpec, run_sweep


def test_the_image_experiment_is_found_through_its_entry_point():
    """In a fresh process (this one's registry is shared with the other tests), nothing imported by hand."""
    code = "from neon_theory.run.experiments import get_experiment; print(get_experiment('image-cell').module)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "toy_models.drivers.image_experiments", proc.stderr


@pytest.mark.parametrize(
    "family, knob, values",
    [("diffusion", "guidance", [1.0, 3.0]), ("flow", "steps", [2, 8]), ("pixel-ar", "temperature", [0.7, 1.3]), ("pixel-ar", "top_k", [1, 2])],
)
def test_image_cells_give_finite_alignment_with_error_bars(family, knob, values, tmp_path):
    spec = SweepSpec("image-cell", grid={"value": values}, seeds=(0,), fixed={"family": family, "knob": knob})
    df = run_sweep(spec, ResultStore(tmp_path), progress=False)
    assert (df.status == "ok").all(), df.error.tolist()
    for _, row in df.iterrows():
        assert math.isfinite(row["result.s"]) and row["result.s_se"] > 0 and -1 < row["result.cosine"] < 1
        assert math.isfinite(row["result.held_out_loss"]) and row["result.held_out_loss"] > 0
    assert df["result.held_out_loss"].nunique() == 1  # one base model per (family, seed): the sampler does not touch it


@pytest.mark.parametrize(
    "fixed, needle",
    [({"family": "gan"}, "family must be one of"), ({"family": "flow", "knob": "temperature"}, "knob must be one of"),
     ({"family": "pixel-ar", "knob": "top_p", "value": 1.5}, "top_p"), ({"size": 12}, "size must be one of")],
)
def test_bad_image_cells_are_rejected_by_field_before_any_job(fixed, needle, tmp_path):
    with pytest.raises(ValueError, match=needle):
        SweepSpec("image-cell", fixed=fixed).validate()
