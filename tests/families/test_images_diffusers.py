"""A diffusers UNet2DModel through the contract: the adapter, the engine on it, and image-cell with network: diffusers."""

import math

import pytest
import torch

diffusers = pytest.importorskip("diffusers")

from neon_theory.alignment import alignment
from neon_theory.gradients import ModelLaw, paired_population_gradients
from neon_theory.neon import merge_modules, self_train
from neon_theory.params import num_parameters
from neon_theory.preconditioners import identity
from neon_theory.rng import draw, generator
from neon_theory.run.sweeps import ResultStore, SweepSpec, run_sweep
from neon_theory.samplers import Chain, Guidance, Steps
from toy_models.diffusion import DiffusionModel, Schedule
from toy_models.images.data import digits
from toy_models.images.diffusers_unet import DiffusersUNet, tiny_unet2d


@pytest.fixture(scope="module")
def net():
    return tiny_unet2d((1, 8, 8), num_classes=10, channels=8, seed=0)


def test_the_adapter_calls_the_unet_with_timesteps_and_the_null_class(net):
    x = draw(torch.randn, 3, 64, generator=generator(0, "x"))
    time_input = torch.tensor([[0.0], [0.5], [1.0]])
    labels = torch.tensor([2, -1, 7])
    direct = net.unet(x.reshape(3, 1, 8, 8), torch.tensor([0.0, 499.5, 999.0]), class_labels=torch.tensor([2, 10, 7])).sample
    assert torch.allclose(net(x, time_input, labels), direct.reshape(3, -1), atol=1e-6)
    assert net.dim == 64 and net.num_classes == 10


def test_no_example_of_a_batch_changes_another(net):
    x = draw(torch.randn, 6, 64, generator=generator(1, "x"))
    t, y = draw(torch.rand, 6, 1, generator=generator(2, "t")), torch.arange(6)
    together = net(x, t, y)
    alone = torch.cat([net(x[i : i + 1], t[i : i + 1], y[i : i + 1]) for i in range(6)])
    assert torch.allclose(together, alone, atol=1e-5)


def test_the_engine_runs_on_a_diffusers_unet_unchanged(net):
    model = DiffusionModel(net, Schedule("cosine", 1000))
    train = digits("train", 8)
    rows = torch.cat([train.images.flatten(1), train.labels[:, None].float()], 1)[:256]
    sampler = Chain((Steps(3, "ddim"), Guidance(2.0)))
    est = paired_population_gradients(model, {"real": rows, "synthetic": ModelLaw(model, sampler)}, generator=generator(0, "S"),
                                      noise_generator=generator(0, "noise"), n_batches=8)
    assert est["real"].mean.shape == (num_parameters(net),) and bool(torch.isfinite(est["real"].mean).all())
    rep = alignment(est["real"], est["synthetic"], identity())
    assert math.isfinite(rep.s) and rep.s_se > 0 and -1 <= rep.cosine <= 1
    S = model.sample(64, sampler, generator(0, "ft-S"))
    st = self_train(model, S, steps=3, lr=1e-3, batch_size=32, generator=generator(0, "ft"))
    theta_s = DiffusionModel(tiny_unet2d((1, 8, 8), num_classes=10, channels=8, seed=0), Schedule("cosine", 1000))
    theta_s.module.load_state_dict(st.state_dict)
    base = model.module.state_dict()
    for w, expected in ((0.0, base), (-1.0, st.state_dict)):  # w = 0 is θ_r, w = −1 is θ_s
        merged = merge_modules(model.module, theta_s.module, w)
        assert all(torch.allclose(merged[k], expected[k]) for k in base)
    assert any(not torch.equal(base[k], st.state_dict[k]) for k in base)


@pytest.mark.slow
def test_image_cell_with_the_diffusers_network_runs_algorithm_1(tmp_path):
    """best_w: the Hessian-vector products behind w* go through the UNet's mid-block attention (double backward)."""
    spec = SweepSpec("image-cell", grid={"sampler": ["guidance=3"]}, seeds=(0,), fixed={"family": "flow", "network": "diffusers", "best_w": True})
    row = run_sweep(spec, ResultStore(tmp_path), progress=False).iloc[0]
    assert row.status == "ok", row.error
    assert math.isfinite(row["result.s"]) and row["result.s_se"] > 0 and row["result.z"] > 0
    assert math.isfinite(row["result.w_star_displacement"]) and -2 <= row["result.best_w_fid"] <= 2


def _unet(**options):
    blocks = dict(block_out_channels=(8, 16), down_block_types=("DownBlock2D",) * 2, up_block_types=("UpBlock2D",) * 2, norm_num_groups=8)
    return diffusers.UNet2DModel(**{"sample_size": 8, **blocks, **options})


@pytest.mark.parametrize(
    "call, needle",
    [(lambda: DiffusersUNet(torch.nn.Linear(2, 2)), "diffusers.UNet2DModel"), (lambda: tiny_unet2d((1, 8, 8), channels=12), "multiple of 8"),
     (lambda: tiny_unet2d((1, 7, 7)), "even side"), (lambda: tiny_unet2d((1, 8)), "shape must be"),
     (lambda: DiffusersUNet(_unet(sample_size=None)), "sample_size"), (lambda: DiffusersUNet(_unet(class_embed_type="identity")), "num_class_embeds")],
)
def test_bad_arguments_name_the_parameter(call, needle):
    with pytest.raises(ValueError, match=needle):
        call()
