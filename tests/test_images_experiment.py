"""``image-cell``: s, the P-cosine and Neon's best w on images for the three image families, through the sweep engine."""

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from neon_theory.run.sweeps import ResultStore, SweepSpec, run_sweep
from toy_models.drivers import image_experiments as E
from toy_models.images.data import digits, load
from toy_models.images.pixel_ar import dequantise, quantise


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


@pytest.mark.parametrize("family, knob, value", [("diffusion", "guidance", 3.0), ("flow", "guidance", 0.5), ("pixel-ar", "temperature", 0.7)])
def test_a_neon_cell_finds_best_w_on_loss_and_fid_with_common_evaluation_noise(family, knob, value, tmp_path):
    ws = (-1.0, 0.0, 1.0)
    spec = SweepSpec("image-cell", seeds=(0,), fixed={"family": family, "knob": knob, "value": value, "best_w": True, "w_values": ws})
    row = run_sweep(spec, ResultStore(tmp_path), progress=False).iloc[0]
    assert row.status == "ok", row.error
    r = {k.removeprefix("result."): v for k, v in row.items() if k.startswith("result.")}
    lo, hi = E.IMAGE_PRESETS["smoke"]["bracket"]
    for metric in ("loss", "fid"):
        assert lo <= r[f"best_w_{metric}"] <= hi
        # Brent's value at its best w is no worse than the base, and the base is evaluated on the same noise as the sweep's w = 0
        assert r[f"best_{metric}"] <= r[f"base_{metric}"] + 1e-12
        assert r[f"{metric}_at_w"][1] == pytest.approx(r[f"base_{metric}"], rel=1e-12)
        assert r[f"gain_{metric}"] == pytest.approx(r[f"base_{metric}"] - r[f"best_{metric}"], rel=1e-9, abs=1e-12)
    assert all(0 <= p <= 1 for p in r["precision_at_w"] + r["recall_at_w"])
    assert r["z"] > 0 and r["w_star"] == pytest.approx(-r["s"] / (r["alpha"] * r["z"]), rel=1e-6)
    assert r["alpha"] == pytest.approx(E.IMAGE_PRESETS["smoke"]["ft_lr"] * E.IMAGE_PRESETS["smoke"]["ft_steps"])
    assert 0 < r["fid_floor"] < r["base_fid"]  # the base model is farther from the held-out digits than real training digits are


def test_the_pixel_ar_held_out_loss_is_the_exact_mean_nll_of_the_held_out_images():
    cell = E.ImageCell(family="pixel-ar", knob="temperature", value=1.0)
    model = E._image_base(cell.base(), 0)
    loss, _ = E._metrics(cell)
    test = digits("test", 8)
    n = min(E.IMAGE_PRESETS["smoke"]["n_pop"], len(test))
    tokens = quantise(test.images[:n], E.IMAGE_PRESETS["smoke"]["levels"])
    with torch.no_grad():  # an independent evaluation: one pass, labels attached by hand
        nll = model.per_example_loss(torch.cat([tokens, test.labels[:n, None]], 1).float(), None).double().mean()
    assert loss(model, torch.Generator().manual_seed(0)) == pytest.approx(float(nll), rel=1e-9)


@pytest.mark.parametrize("data, size, family", [("digits", 8, "diffusion"), ("patches", 16, "flow"), ("digits", 16, "pixel-ar"), ("faces", 25, "diffusion")])
def test_rows_map_back_to_the_images_they_came_from(data, size, family):
    images = load(data, "test", size)
    levels = 4
    rows = E._rows(images, family, levels)
    assert rows.shape == (len(images), int(np.prod(images.shape)) + 1) and torch.equal(rows[:, -1].long(), images.labels)
    back = E.rows_to_images(rows, family, images.shape, levels)
    expected = dequantise(quantise(images.images, levels), images.shape, levels) if family == "pixel-ar" else images.images
    assert torch.equal(back, expected)


def test_batches_keep_every_images_loss_noise_copies_together():
    for n, k, copies in [(360, 12, 8), (256, 8, 2), (41, 8, 3), (5, 8, 1)]:
        edges = E._batch_edges(n, k, copies)
        assert edges[0] == 0 and edges[-1] == n * copies and all(e % copies == 0 for e in edges)
        sizes = np.diff(edges) // copies
        assert len(sizes) == min(k, n) and sizes.min() >= 1 and sizes.max() - sizes.min() <= 1


def test_bfloat16_autocast_keeps_the_population_gradient_close_and_accumulated_in_float64():
    from neon_theory.gradients import population_gradient

    model = E._image_base(E.ImageCell().base(), 0)
    rows = E._rows(digits("test", 8), "diffusion", 4)[:128]
    est = {}
    for precision in E.PRECISIONS:
        with E._precision(precision):
            est[precision] = population_gradient(model, rows, noise_generator=torch.Generator().manual_seed(3), n_batches=4)
    full, half = est["float32"].mean, est["bfloat16"].mean
    assert half.dtype == torch.float64 and not torch.equal(full, half)  # autocast did run in bfloat16
    assert float((half - full).norm() / full.norm()) < 0.05


@pytest.mark.parametrize(
    "fixed, needle",
    [({"family": "gan"}, "family must be one of"), ({"family": "flow", "knob": "temperature"}, "knob must be one of"),
     ({"family": "pixel-ar", "knob": "top_p", "value": 1.5}, "top_p"), ({"size": 12}, "size must be one of"),
     ({"data": "faces", "size": 8}, "size must be one of 25"), ({"family": "pixel-ar", "knob": "top_k", "value": 5}, r"top_k must be an integer in \[1, 4\]"),
     ({"family": "pixel-ar", "knob": "temperature", "value": 1.0, "data": "patches", "size": 32}, "3072 tokens"),
     ({"precision": "float16"}, "precision must be one of"), ({"preconditioner": "newton"}, "preconditioner must be one of"),
     ({"w_values": "0,1"}, "w_values"), ({"compile": "yes"}, "compile must be one of"),
     ({"network": "diffusers", "family": "pixel-ar", "knob": "temperature", "value": 1.0}, "not for pixel-ar"),
     ({"network": "diffusers", "data": "faces", "size": 25}, "even image size")],
)
def test_bad_image_cells_are_rejected_by_field_before_any_job(fixed, needle, tmp_path):
    with pytest.raises(ValueError, match=needle):
        SweepSpec("image-cell", fixed=fixed).validate()


def test_a_compiled_network_gives_the_same_cell_and_its_hessian_products_run_eagerly():
    """aot_eager traces the network as torch.compile does (without code generation); the HVP behind w* needs double backward."""
    cells = {c: E.image_cell(E.ImageCell(family="diffusion", knob="guidance", value=2.0, best_w=True, compile=c), 0) for c in ("off", "aot_eager")}
    for key in ("s", "s_se", "cosine", "w_star", "w_star_displacement", "best_w_loss", "best_fid"):
        assert cells["aot_eager"][key] == pytest.approx(cells["off"][key], rel=1e-6), key
    assert E._image_base(E.ImageCell(compile="aot_eager").base(), 0).module._compiled_call_impl is not None
