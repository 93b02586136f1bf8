"""``image-cell``: s, the P-cosine and Neon's best w on images for the three image families, through the sweep engine."""

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from neon_theory.rng import draw, generator
from neon_theory.run.sweeps import ResultStore, SweepSpec, run_sweep
from studies.images import cells as E
from toy_models.images.data import digits, load
from toy_models.images.pixel_ar import dequantise, quantise


@pytest.mark.slow
def test_the_image_experiment_is_found_through_its_entry_point():
    """In a fresh process (this one's registry is shared with the other tests), nothing imported by hand."""
    code = "from neon_theory.run.experiments import get_experiment; print(get_experiment('image-cell').module)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "studies.images.cells", proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "family, samplers",
    [("diffusion", ["guidance=1", "guidance=3"]), ("flow", ["steps=2", "steps=8"]), ("pixel-ar", ["temperature=0.7", "temperature=1.3"]),
     ("pixel-ar", ["top-k=1", "top-k=2"])],
)
def test_image_cells_give_finite_alignment_with_error_bars(family, samplers, tmp_path):
    spec = SweepSpec("image-cell", grid={"sampler": samplers}, seeds=(0,), fixed={"family": family})
    df = run_sweep(spec, ResultStore(tmp_path), progress=False)
    assert (df.status == "ok").all(), df.error.tolist()
    for _, row in df.iterrows():
        assert math.isfinite(row["result.s"]) and row["result.s_se"] > 0 and -1 < row["result.cosine"] < 1
        assert math.isfinite(row["result.held_out_loss"]) and row["result.held_out_loss"] > 0
    assert df["result.held_out_loss"].nunique() == 1  # one base model per (family, seed): the sampler does not touch it


@pytest.mark.slow
@pytest.mark.parametrize("family, sampler", [("diffusion", "guidance=3"), ("flow", "guidance=0.5"), ("pixel-ar", "temperature=0.7")])
def test_a_neon_cell_finds_best_w_on_loss_and_fid_with_common_evaluation_noise(family, sampler, tmp_path):
    ws = (-1.0, 0.0, 1.0)
    auto = family != "pixel-ar"  # CI time: its auto w costs 10 s at smoke
    spec = SweepSpec("image-cell", seeds=(0,), fixed={"family": family, "sampler": sampler, "best_w": True, "w_values": ws, "auto_w": auto})
    row = run_sweep(spec, ResultStore(tmp_path), progress=False).iloc[0]
    assert row.status == "ok", row.error
    r = {k.removeprefix("result."): v for k, v in row.items() if k.startswith("result.")}
    lo, hi = E.IMAGE_PRESETS["smoke"]["bracket"]
    for metric in ("loss", "fid"):
        assert lo <= r[f"best_w_{metric}"] <= hi
        # the base of the Brent search, the sweep's w = 0 and (loss) the cell's own held-out loss share one evaluation stream
        assert r[f"{metric}_at_w"][1] == pytest.approx(r[f"base_{metric}"], rel=1e-12)
    assert r["held_out_loss"] == pytest.approx(r["base_loss"], rel=1e-12)
    assert all(0 <= p <= 1 for p in r["precision_at_w"] + r["recall_at_w"])
    assert r["z"] > 0 and r["w_star_se"] > 0 and -1 <= r["displacement_cosine"] <= 1
    assert 0 < r["fid_floor"] < r["base_fid"]  # the base model is farther from the held-out digits than real training digits are
    assert all(r[k] > 0 for k in ("fid_floor_se", "base_fid_se", "best_fid_se"))
    assert r["base_fid_at_floor_n"] > 0 and r["fid_floor_n"] <= r["n_eval"]
    # w without a metric search: both variants inside their intervals, the held-out loss there no worse than the base's,
    # and (seed 0, smoke) the displacement interval holds Brent's best w on the held-out loss (diffusion -0.101 in
    # [-0.163, -0.056]; pixel-ar, checked by hand, 0.084 in [0.007, 0.165])
    for tag in ("", "_three_point") if auto else ():
        assert r[f"auto_w{tag}_low"] < r[f"auto_w{tag}"] < r[f"auto_w{tag}_high"] and r[f"auto_w{tag}_se"] > 0
        assert r[f"loss_at_auto{tag}"] <= r["base_loss"] + 1e-9 and r[f"fid_at_auto{tag}"] > 0
    assert not auto or r["auto_w_low"] <= r["best_w_loss"] <= r["auto_w_high"], (r["auto_w_low"], r["best_w_loss"], r["auto_w_high"])


@pytest.mark.slow
def test_the_pixel_ar_held_out_loss_is_the_exact_mean_nll_of_the_held_out_images():
    cell = E.ImageCell(family="pixel-ar", sampler="temperature=1")
    model = E._image_base(cell.base(), 0)
    loss, _ = E._metrics(cell)
    test = digits("test", 8)
    n = min(E.IMAGE_PRESETS["smoke"]["n_pop"], len(test))
    keep = torch.linspace(0, len(test), n + 1)[:-1].floor().long()  # n_pop images spread evenly over the split
    tokens = quantise(test.images[keep], E.IMAGE_PRESETS["smoke"]["levels"])
    with torch.no_grad():  # an independent evaluation: one pass, labels attached by hand
        nll = model.per_example_loss(torch.cat([tokens, test.labels[keep, None]], 1).float(), None).double().mean()
    assert loss(model, torch.Generator().manual_seed(0)) == pytest.approx(float(nll), rel=1e-9)


@pytest.mark.parametrize("data, size, family", [("digits", 8, "diffusion"), ("patches", 16, "flow"), ("digits", 16, "pixel-ar"), ("faces", 25, "diffusion")])
def test_rows_map_back_to_the_images_they_came_from(data, size, family):
    images = load(data, "test", size)
    s = E.IMAGE_PRESETS["smoke"]
    levels = s["levels"]
    rows = E._rows(images, E.IMAGE_FAMILIES[family], s)
    assert rows.shape == (len(images), int(np.prod(images.shape)) + 1) and torch.equal(rows[:, -1].long(), images.labels)
    back = E.rows_to_images(rows, E.IMAGE_FAMILIES[family], images.shape, s)
    expected = dequantise(quantise(images.images, levels), images.shape, levels) if family == "pixel-ar" else images.images
    assert torch.equal(back, expected)


def test_the_displacement_w_star_is_thm_b1s_w_star_when_the_step_is_minus_alpha_p_r_s():
    """App. B.10 and Thm B.1 agree when Δ = −αP r_s exactly; a flipped sign or a dropped factor breaks it."""
    from neon_theory.params import parameter_vector, unflatten

    model = E._image_base(E.ImageCell().base(), 0)
    p = parameter_vector(model.module, torch.float64).shape[0]
    g = generator(5, "displacement")
    r_d, P_r_s = draw(torch.randn, p, generator=g, dtype=torch.float64), draw(torch.randn, p, generator=g, dtype=torch.float64)
    A = draw(torch.randn, p, generator=g, dtype=torch.float64) ** 2 + 0.1  # a diagonal positive Ĥ
    alpha = 0.3
    theta = parameter_vector(model.module, torch.float64)
    theta_s = {k: v.float() for k, v in unflatten(theta - alpha * P_r_s, model.module).items()}
    got = E._displacement(model, theta_s, r_d, P_r_s, lambda v: A * v)
    s, z = float(r_d @ P_r_s), float(P_r_s @ (A * P_r_s))
    assert got["w_star_displacement"] == pytest.approx(-s / (alpha * z), rel=1e-4)  # θ_s is stored in float32
    assert got["displacement_cosine"] == pytest.approx(1.0, abs=1e-6)


def test_the_probe_keeps_an_images_loss_noise_copies_next_to_each_other():
    probe = E._image_probe(E.ImageCell().base(), "adam", 0, 0)
    copies = E.IMAGE_PRESETS["smoke"]["noise_draws"]
    rows = probe.real.reshape(-1, copies, probe.real.shape[1])
    assert copies > 1 and (rows == rows[:, :1]).all() and not (rows[1:] == rows[:-1]).all()
    assert all(e % copies == 0 for e in probe.rows.batch_edges) and probe.rows.batch_edges[-1] == probe.real.shape[0]


@pytest.mark.slow
def test_samples_carry_labels_drawn_from_the_training_class_frequencies():
    """Photo patches are 29/26/14/30% by photograph; uniform labels would tilt r_s and FID. 4-SE binomial tolerance."""
    model = E._image_base(E.ImageCell(data="patches", size=16).base(), 0)
    train = load("patches", "train", 16)
    want = torch.bincount(train.labels).double() / len(train)
    n = 4000
    got = torch.bincount(model.sample_labels(n, torch.Generator().manual_seed(9)), minlength=4).double() / n
    assert ((got - want).abs() <= 4 * (want * (1 - want) / n).sqrt()).all() and want.max() - want.min() > 0.1


@pytest.mark.slow
def test_each_field_of_the_base_changes_the_base_model():
    cells = [E.ImageCell(), E.ImageCell(data="patches", size=16), E.ImageCell(size=16), E.ImageCell(precision="bfloat16")]
    losses = [E._metrics(c)[0](E._image_base(c.base(), 0), torch.Generator().manual_seed(0)) for c in cells]
    assert len(set(losses)) == len(cells)


def test_the_pixel_ar_fid_reference_is_quantised_as_the_model_sees_the_images():
    net, ref_levels = E._feature_reference("digits", 8, "smoke", 4)[:2]
    ref_pixels = E._feature_reference("digits", 8, "smoke", 0)[1]
    images = digits("test", 8).images
    from toy_models.images.features import extract

    assert torch.allclose(ref_levels, extract(net, dequantise(quantise(images, 4), (1, 8, 8), 4)))
    assert torch.allclose(ref_pixels, extract(net, images)) and not torch.allclose(ref_levels, ref_pixels)


def test_batches_keep_every_images_loss_noise_copies_together():
    for n, k, copies in [(360, 12, 8), (256, 8, 2), (41, 8, 3), (5, 8, 1)]:
        edges = E._batch_edges(n, k, copies)
        assert edges[0] == 0 and edges[-1] == n * copies and all(e % copies == 0 for e in edges)
        sizes = np.diff(edges) // copies
        assert len(sizes) == min(k, n) and sizes.min() >= 1 and sizes.max() - sizes.min() <= 1


def test_bfloat16_autocast_keeps_the_population_gradient_close_and_accumulated_in_float64():
    from neon_theory.gradients import population_gradient

    model = E._image_base(E.ImageCell().base(), 0)
    rows = E._rows(digits("test", 8), E.IMAGE_FAMILIES["diffusion"], E.IMAGE_PRESETS["smoke"])[:128]
    est = {}
    for precision in E.PRECISIONS:
        with E._precision(precision):
            est[precision] = population_gradient(model, rows, noise_generator=torch.Generator().manual_seed(3), n_batches=4)
    full, half = est["float32"].mean, est["bfloat16"].mean
    assert half.dtype == torch.float64 and not torch.equal(full, half)  # autocast did run in bfloat16
    assert float((half - full).norm() / full.norm()) < 0.05


@pytest.mark.parametrize(
    "fixed, needle",
    [({"family": "gan"}, "family must be one of"), ({"family": "flow", "sampler": "temperature=0.7"}, "flow family does not implement"),
     ({"family": "pixel-ar", "sampler": "top-p=1.5"}, "top-p=1.5"), ({"size": 12}, "size must be one of"),
     ({"data": "faces", "size": 8}, "size must be one of 25"), ({"family": "pixel-ar", "sampler": "top-k=5"}, "k must be at most the 4 levels"),
     ({"family": "pixel-ar", "sampler": "temperature=1", "data": "patches", "size": 32}, "3072 tokens"),
     ({"precision": "float16"}, "precision must be one of"), ({"preconditioner": "newton"}, "preconditioner must be one of"),
     ({"w_values": "0,1"}, "w_values"), ({"compile": "yes"}, "compile must be one of"),
     ({"network": "diffusers", "family": "pixel-ar", "sampler": "temperature=1"}, "not a network of the pixel-ar family"),
     ({"sampler": "steps=5,solver=heun"}, "solves with ddim"), ({"sampler": 2.0}, "sampler must be text"),
     ({"knob": "guidance", "value": 2.0}, "write sampler: guidance=GAMMA"),
     ({"network": "diffusers", "data": "faces", "size": 25}, "even image size"), ({"best_w": "yes"}, "best_w must be true or false"),
     ({"best_w": True, "preconditioner": "identity"}, "fine-tune with Adam")],
)
def test_bad_image_cells_are_rejected_by_field_before_any_job(fixed, needle, tmp_path):
    with pytest.raises(ValueError, match=needle):
        SweepSpec("image-cell", fixed=fixed).validate()


@pytest.mark.slow
def test_a_compiled_network_gives_the_same_cell_and_its_hessian_products_run_eagerly():
    """aot_eager traces the network as torch.compile does (without code generation); the HVP behind w* needs double backward."""
    cells = {c: E.image_cell(E.ImageCell(family="diffusion", sampler="guidance=2", best_w=True, compile=c), 0) for c in ("off", "aot_eager")}
    for key in ("s", "s_se", "cosine", "w_star"):  # θ_r's probe: the same operations up to float32 round-off
        assert cells["aot_eager"][key] == pytest.approx(cells["off"][key], rel=1e-4), key
    for key in ("w_star_displacement", "best_w_loss", "best_fid"):  # fine-tuned compiled: float32 round-off may differ
        assert cells["aot_eager"][key] == pytest.approx(cells["off"][key], rel=1e-3), key
    from neon_theory.neon import working_copy

    compiled = E._image_base(E.ImageCell(compile="aot_eager").base(), 0)
    assert compiled.module._compiled_call_impl is not None and working_copy(compiled).module._compiled_call_impl is not None


def test_image_ddim_clips_its_x0_estimate_to_the_pixel_range():
    """Without the clip, x̂₀ = (x − √(1−ᾱ)ε̂)/√ᾱ at the first step (ᾱ ≈ 2e-6) amplifies the error of ε̂ hundreds of times."""
    model = E._image_base(E.ImageCell().base(), 0)
    sampler = E.ImageCell(sampler="steps=5").spec()
    clipped = model.sample(200, sampler, torch.Generator().manual_seed(0))[:, :64]
    assert model.x0_range == (-1.0, 1.0) and float(clipped.abs().max()) <= 1.0
    try:
        model.x0_range = None
        raw = model.sample(200, sampler, torch.Generator().manual_seed(0))[:, :64]
    finally:
        model.x0_range = (-1.0, 1.0)
    assert float(raw.abs().max()) > 2.0


@pytest.mark.parametrize("x0_range, needle", [((1.0, -1.0), "lo < hi"), ((0.0,), r"\(lo, hi\)"), ((0.0, float("nan")), "x0_range")])
def test_a_bad_x0_range_names_the_parameter(x0_range, needle):
    from toy_models.diffusion import DiffusionModel
    from toy_models.images.unet import TimeUNet

    with pytest.raises(ValueError, match=needle):
        DiffusionModel(TimeUNet((1, 8, 8), channels=4), x0_range=x0_range)


def test_the_first_order_domain_is_where_the_loss_follows_its_gradient():
    """A quadratic loss L(w) = a w + b w²/2 along d leaves first order (10%) at |w| = 0.2 |a/b|: the
    measured domain on the grid is the last grid point below it, and a linear loss keeps it everywhere."""
    import types

    class Line:
        def __init__(self, a, b):
            self.a, self.b = a, b

        def __call__(self, model, g, grad=False):
            w = float(model.module.w.detach())
            loss = 1.0 + self.a * w + 0.5 * self.b * w * w
            return (loss, torch.tensor([self.a + self.b * w], dtype=torch.float64)) if grad else loss

    module = torch.nn.Module()
    module.w = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    model = types.SimpleNamespace(module=module, draw_noise=None, per_example_loss=None, sample=None)
    d = torch.ones(1, dtype=torch.float64)
    quad = E._first_order_domain(model, {"x": d}, Line(-1.0, 10.0), 0)  # leaves first order at |w| = 0.02
    assert quad["first_order_w_x"] == 0.01 and quad["first_order_resolved_x"] == E.DOMAIN_WS[0]
    line = E._first_order_domain(model, {"x": d}, Line(-1.0, 0.0), 0)
    assert line["first_order_w_x"] == E.DOMAIN_WS[-1]
