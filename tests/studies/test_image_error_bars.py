"""The image cells' error bars: the held-out rows' order, s's SE against its SD over redrawn held-out
sets, the FID bootstrap SE against the SD over fresh samples, and a floor the feature net never saw."""

import statistics

import pytest
import torch

from neon_theory.rng import draw, generator
from studies.images import cells as E
from toy_models.images.features import extract, fid, fid_bootstrap_se


def test_the_standard_held_out_rows_are_the_evenly_spread_images_in_one_fixed_random_order():
    cell = E.ImageCell(family="flow")  # copies > 1: the order is of whole images
    copies = E.IMAGE_PRESETS["smoke"]["noise_draws"]
    rows = E._held_out_rows(cell)
    evenly = E._rows(E._evenly(E._split("digits", 8, "test"), E.IMAGE_PRESETS["smoke"]["n_pop"]), cell.fam, E.IMAGE_PRESETS["smoke"])
    images = rows[::copies]
    assert torch.equal(rows, images.repeat_interleave(copies, dim=0))
    assert not torch.equal(images, evenly)  # not file order
    key = lambda t: sorted(map(tuple, t.tolist()))  # noqa: E731
    assert key(images) == key(evenly)  # the same images
    assert torch.equal(rows, E._held_out_rows(cell))  # fixed


def test_a_held_out_draw_resamples_the_test_split_with_replacement():
    cell = E.ImageCell(family="diffusion")
    n, copies = E.IMAGE_PRESETS["smoke"]["n_pop"], E.IMAGE_PRESETS["smoke"]["noise_draws"]
    a, b = E._held_out_rows(cell, 1)[::copies], E._held_out_rows(cell, 2)[::copies]
    assert a.shape == b.shape == (n, 65) and not torch.equal(a, b)
    assert len(set(map(tuple, a.tolist()))) < n  # repeats: drawn with replacement (256 of 360: P(no repeat) < 1e-30)
    assert torch.equal(a, E._held_out_rows(cell, 1)[::copies])


@pytest.mark.slow
@pytest.mark.parametrize("family, sampler", [("diffusion", "guidance=2.0"), ("flow", "guidance=2.0")])
def test_the_se_of_s_matches_its_sd_over_redrawn_held_out_sets(family, sampler):
    """60 held-out draws (fresh held-out images, loss noise and synthetic images; P fixed, as the SE
    is conditional on it).  The SD of a 60-draw SD is about 9%; the band [0.75, 1.33] is about 3 of
    those.  Measured at smoke: 1.02 (diffusion), 0.93 (flow), 1.05 (pixel-ar, left out here: 90 s)."""
    runs = [E.image_cell(E.ImageCell(family=family, sampler=sampler, held_out_draw=k), 0) for k in range(1, 61)]
    sd = statistics.stdev(r["s"] for r in runs)
    se = statistics.mean(r["s_se"] for r in runs)
    assert 0.75 < sd / se < 1.33, (sd, se)


def test_the_fid_bootstrap_se_matches_the_sd_over_fresh_samples():
    """Gaussian features with a known law: 300 fresh samples per repeat, 200 repeats; the SD of a
    200-repeat SD is 5%, the band [0.8, 1.25] is about 4 of those."""
    g = generator(0, "test-fid-bootstrap")
    ref = draw(torch.randn, 2000, 8, generator=g, dtype=torch.float64)
    scale = torch.linspace(0.8, 1.4, 8, dtype=torch.float64)
    values, ses = [], []
    for _ in range(200):
        x = 0.3 + scale * draw(torch.randn, 300, 8, generator=g, dtype=torch.float64)
        values.append(fid(ref, x))
        ses.append(fid_bootstrap_se(ref, x, resamples=100, generator=g))
    ratio = statistics.stdev(values) / statistics.mean(ses)
    assert 0.8 < ratio < 1.25, ratio


@pytest.mark.parametrize("bad, needle", [({"resamples": 1}, "resamples"), ({"features": torch.zeros(1, 4)}, "at least 2 rows")])
def test_a_bad_bootstrap_names_its_parameter(bad, needle):
    args = {"reference": torch.zeros(10, 4), "features": torch.ones(10, 4), "resamples": 10, **bad}
    with pytest.raises(ValueError, match=needle):
        fid_bootstrap_se(args["reference"], args["features"], resamples=args["resamples"], generator=generator(0, "x"))


def test_the_fid_floor_compares_two_real_sets_the_feature_net_never_saw():
    train, test = E._split("digits", 8, "train"), E._split("digits", 8, "test")
    seen, unseen = E._feature_halves(train)
    as_rows = lambda d: set(map(tuple, d.images.flatten(1).tolist()))  # noqa: E731
    assert len(seen) + len(unseen) == len(train) and abs(len(seen) - len(unseen)) <= 1
    assert not as_rows(seen) & as_rows(unseen) and not as_rows(seen) & as_rows(test)
    net, ref, floor, floor_se, n = E._feature_reference("digits", 8, "smoke", 0)
    floor_set = E._evenly(unseen, E.IMAGE_PRESETS["smoke"]["n_eval"])
    assert n == len(floor_set) == E.IMAGE_PRESETS["smoke"]["n_eval"]
    assert floor == pytest.approx(fid(ref, extract(net, floor_set.images)), rel=1e-9)
    assert 0 < floor_se < floor
