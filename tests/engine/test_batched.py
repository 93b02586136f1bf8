"""self_train_many: K models trained as one equal each model trained alone (same seeds, same streams)."""

import pytest
import torch

from neon_theory.batched import self_train_many
from neon_theory.neon import FineTuning, self_train
from neon_theory.rng import generator
from neon_theory.samplers import Chain, ScoreScale, Steps, Temperature
from studies.official_ar.toy import ARToyConfig, ar_base
from studies.official_diffusion.toy import DiffusionToyConfig, diffusion_base
from toy_models.autoregressive import ARGaussianModel

FT = FineTuning(30, 1e-3, "adam", 256)


def _alone(models, data, ft, seeds, snaps=()):
    return [self_train(m, d, steps=ft.steps, lr=ft.lr, optimizer=ft.optimizer, batch_size=ft.batch_size,
                       generator=generator(s, "ft"), snapshot_steps=snaps) for m, d, s in zip(models, data, seeds)]


def _together(models, data, ft, seeds, snaps=()):
    return self_train_many(models, data, fine_tuning=ft, generators=[generator(s, "ft") for s in seeds], snapshot_steps=snaps)


def _assert_same(a, b):
    """Equal to the round-off of batched matrix products.  The models are float64: Adam divides by
    √v + eps, so a coordinate whose gradient is at round-off level (a unit active on no row of a
    batch) moves by lr × round-off / eps per step; float32 round-off (1e-10 on such a gradient)
    then shows at 1e-5 after 10 steps on some CPUs' kernels, float64's does not."""
    for k in a.state_dict:
        torch.testing.assert_close(b.state_dict[k], a.state_dict[k], rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(b.losses, a.losses, rtol=1e-9, atol=1e-12)
    assert b.steps == a.steps and b.batch_size == a.batch_size and b.alpha == a.alpha


@pytest.fixture(scope="module")
def ar_set():
    cfg = ARToyConfig.preset("smoke")
    seeds = (11, 12, 13)
    models = [ARGaussianModel(ar_base(cfg, s).module.double()) for s in seeds]
    data = [m.sample(1000, Temperature(0.5 + 0.3 * i, "std"), generator(s, "S")) for i, (m, s) in enumerate(zip(models, seeds))]
    return models, data, seeds


def test_k_ar_models_trained_as_one_equal_each_trained_alone(ar_set):
    models, data, seeds = ar_set
    alone, together = _alone(models, data, FT, seeds, snaps=(10,)), _together(models, data, FT, seeds, snaps=(10,))
    for a, b in zip(alone, together):
        _assert_same(a, b)
        for k in a.snapshots[10]:
            torch.testing.assert_close(b.snapshots[10][k], a.snapshots[10][k], rtol=1e-9, atol=1e-12)
    # and the models really differ from each other (a mix-up of streams or rows would show here)
    assert not torch.allclose(together[0].state_dict["mu1"], together[1].state_dict["mu1"])
    assert all(not torch.equal(b.state_dict["mu1"], m.module.state_dict()["mu1"]) for b, m in zip(together, models))


def test_adding_a_model_to_the_batch_changes_no_other_models_numbers(ar_set):
    models, data, seeds = ar_set
    two, three = _together(models[:2], data[:2], FT, seeds[:2]), _together(models, data, FT, seeds)
    for a, b in zip(two, three[:2]):
        for k in a.state_dict:
            torch.testing.assert_close(b.state_dict[k], a.state_dict[k], rtol=1e-9, atol=1e-12)


def test_a_loss_that_branches_on_its_data_is_refused_in_words():
    """The diffusion toy's loss checks its inputs (finite values), which vmap cannot batch: a clear
    error saying to train one at a time, not a RuntimeError from inside torch."""
    cfg = DiffusionToyConfig.preset("smoke")
    seeds = (21, 22)
    models = [diffusion_base(cfg, s) for s in seeds]
    sampler = Chain((Steps(5, "ddim"), ScoreScale(1.1)))
    data = [m.sample(300, sampler, generator(s, "S")) for m, s in zip(models, seeds)]
    with pytest.raises(ValueError, match="cannot be trained as one under vmap.*one at a time with self_train"):
        _together(models, data, FineTuning(3, 1e-4, "adam", None), seeds)


@pytest.mark.parametrize("change, match", [
    (lambda m, d, g: (m, d[:1], g), "K >= 1 each"),
    (lambda m, d, g: (m, [d[0], d[1][:500], d[2]], g), "same, nonzero number of rows"),
    (lambda m, d, g: ([m[0], m[1], ar_base(ARToyConfig(), 0).__class__(__import__("toy_models.autoregressive", fromlist=["x"]).ARGaussianNet(hidden=8))], d, g),
     "parameter shapes"),
])
def test_what_cannot_be_trained_as_one_is_refused_by_name(ar_set, change, match):
    models, data, seeds = ar_set
    m, d, g = change(list(models), list(data), [generator(s, "ft") for s in seeds])
    with pytest.raises(ValueError, match=match):
        self_train_many(m, d, fine_tuning=FT, generators=g)
