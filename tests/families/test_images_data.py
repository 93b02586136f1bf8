"""Image data from PyPI packages, a user's folder and local checkpoints: shapes, ranges, fixed splits, safe loading."""

import pickle

import numpy as np
import pytest
import torch
from torch import nn

from toy_models.images import data as D


@pytest.mark.parametrize(
    "name, size, shape, n_all, classes",
    [("digits", 8, (1, 8, 8), 1797, 10), ("digits", 16, (1, 16, 16), 1797, 10), ("faces", None, (1, 25, 25), 200, 2),
     ("patches", 16, (3, 16, 16), None, 4), ("patches", 32, (3, 32, 32), None, 4)],
)
def test_each_bundled_set_has_its_shape_range_and_a_fixed_disjoint_split(name, size, shape, n_all, classes):
    train, test, every = (D.load(name, split, size) for split in ("train", "test", "all"))
    assert train.shape == test.shape == shape and every.images.dtype == torch.float32
    assert len(train) + len(test) == len(every) and (n_all is None or len(every) == n_all)
    assert 0.15 < len(test) / len(every) < 0.25  # one in five
    assert float(every.images.min()) == -1.0 and float(every.images.max()) <= 1.0  # black pixels map to −1
    assert torch.equal(D.load(name, "test", size).images, test.images)  # the split is fixed: no random draw
    rows = lambda d: {bytes(x.cpu().numpy().tobytes()) for x in d.images}  # noqa: E731
    # disjoint by construction; identical images can still occur in both (a uniform patch of sky)
    assert len(rows(train) & rows(test)) <= 0.01 * len(test)
    if classes is not None:
        assert train.num_classes == classes and set(every.labels.tolist()) == set(range(classes))


def test_digits_at_16_are_the_8_by_8_digits_upsampled():
    small, big = D.digits("test", 8), D.digits("test", 16)
    assert torch.equal(small.labels, big.labels)
    down = torch.nn.functional.avg_pool2d(big.images, 2)  # back to 8×8
    assert (down - small.images).abs().mean() < 0.15 and torch.corrcoef(torch.stack([down.flatten(), small.images.flatten()]))[0, 1] > 0.95


def test_faces_hold_100_faces_then_100_non_faces():
    every = D.faces("all")
    assert every.labels[:100].eq(1).all() and every.labels[100:].eq(0).all()


def test_bad_arguments_name_the_parameter():
    for call, needle in [
        (lambda: D.digits("val"), "split must be one of"),
        (lambda: D.digits(size=12), "size must be one of 8, 16"),
        (lambda: D.photo_patches(size=20), "size must be one of 16, 32"),
        (lambda: D.load("cifar"), "name must be one of"),
        (lambda: D.load("faces", size=32), "size must be 25"),
    ]:
        with pytest.raises(ValueError, match=needle):
            call()


def test_image_data_refuses_out_of_range_or_mislabelled_images():
    x = torch.zeros(4, 1, 2, 2)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        D.ImageData(x + 2, None, "x")
    with pytest.raises(ValueError, match="float32"):
        D.ImageData(x.double(), None, "x")
    with pytest.raises(ValueError, match="num_classes"):
        D.ImageData(x, torch.tensor([0, 1, 2, 3]), "x", num_classes=3)


# ---- a user's folder ---------------------------------------------------------------------


def _write_images(folder, n=3):
    from PIL import Image

    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = []
    for i in range(n):
        a = rng.integers(0, 256, size=(12, 20, 3), dtype=np.uint8)  # wider than tall: centre-cropped
        Image.fromarray(a).save(folder / f"img{i}.{'png' if i % 2 == 0 else 'jpg'}", quality=100)
        arrays.append(a)
    return arrays


def test_an_image_folder_is_cropped_resized_and_scaled(tmp_path):
    arrays = _write_images(tmp_path / "imgs")
    (tmp_path / "imgs" / "notes.txt").write_text("not an image")  # ignored: not an image suffix
    d = D.image_folder(tmp_path / "imgs", size=12)
    assert d.images.shape == (3, 3, 12, 12) and d.labels is None
    crop = arrays[0][:, 4:16].transpose(2, 0, 1).astype(np.float32) / 255 * 2 - 1  # the PNG is lossless
    assert np.allclose(d.images[0].cpu().numpy(), crop, atol=1e-6)
    gray = D.image_folder(tmp_path / "imgs", size=6, channels=1)
    assert gray.images.shape == (3, 1, 6, 6)


def test_a_bad_image_folder_is_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="is not a folder"):
        D.image_folder(tmp_path / "missing", size=8)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no"):
        D.image_folder(tmp_path / "empty", size=8)
    _write_images(tmp_path / "imgs")
    with pytest.raises(ValueError, match="more than limit=2"):
        D.image_folder(tmp_path / "imgs", size=8, limit=2)
    (tmp_path / "imgs" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match="image 'broken.png'.*cannot be read"):
        D.image_folder(tmp_path / "imgs", size=8)
    with pytest.raises(ValueError, match="size"):
        D.image_folder(tmp_path / "imgs", size=2)


# ---- local checkpoints -------------------------------------------------------------------


def _net():
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.GroupNorm(2, 4), nn.Flatten(), nn.LazyLinear(2))


def test_a_checkpoint_the_test_writes_loads_back_exactly(tmp_path):
    torch.manual_seed(0)
    src = nn.Sequential(nn.Conv2d(1, 4, 3), nn.GroupNorm(2, 4))
    torch.save(src.state_dict(), tmp_path / "w.pt")
    torch.save({"state_dict": src.state_dict(), "step": torch.tensor(7)}, tmp_path / "nested.pt")
    for path, key in ((tmp_path / "w.pt", None), (tmp_path / "nested.pt", "state_dict")):
        torch.manual_seed(1)
        dst = D.load_checkpoint(path, nn.Sequential(nn.Conv2d(1, 4, 3), nn.GroupNorm(2, 4)), key=key)
        assert all(torch.equal(a, b) for a, b in zip(src.state_dict().values(), dst.state_dict().values()))


class _Payload:
    def __reduce__(self):  # what an unsafe unpickle would run
        return (print, ("pwned",))


def test_unsafe_truncated_or_mismatched_checkpoints_are_refused(tmp_path):
    module = nn.Sequential(nn.Conv2d(1, 4, 3), nn.GroupNorm(2, 4))
    good = tmp_path / "w.pt"
    torch.save(module.state_dict(), good)
    cases = {
        "missing.pt": (None, "does not exist"),
        "truncated.pt": (good.read_bytes()[: len(good.read_bytes()) // 2], "not a readable weights-only state dict"),
        "garbage.pt": (b"\x00" * 64, "not a readable weights-only state dict"),
        "pickle.pt": (pickle.dumps({"w": _Payload()}, protocol=2), "not a readable weights-only state dict"),
    }
    for name, (content, needle) in cases.items():
        if content is not None:
            (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=needle):
            D.load_checkpoint(tmp_path / name, module)
    torch.save(nn.Sequential(nn.Conv2d(1, 8, 3)).state_dict(), tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"wrong shape \['0.weight'|missing \['1.bias'"):
        D.load_checkpoint(tmp_path / "other.pt", module)
    state = module.state_dict()
    state["0.weight"] = torch.full_like(state["0.weight"], float("nan"))
    torch.save(state, tmp_path / "nan.pt")
    with pytest.raises(ValueError, match="non-finite"):
        D.load_checkpoint(tmp_path / "nan.pt", module)
    with pytest.raises(ValueError, match="no entry 'model'"):
        D.load_checkpoint(good, module, key="model")
