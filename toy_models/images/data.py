"""Image data that ships in PyPI packages, a user's own folder, and local checkpoints; nothing is downloaded.

Every loader returns an :class:`ImageData`: float32 images in [-1, 1] of shape (N, C, H, W)
and optional integer labels.  The train/test split of each bundled set is fixed (no random
draw): example ``i`` is a test example when ``i % 5 == 0`` (photo patches: when the patch's
grid row + column is a multiple of 5), so every session and every seed sees the same split.

* :func:`digits`: scikit-learn's 1,797 handwritten digits, 8×8 (or 16×16, bilinear), 10 classes.
* :func:`faces`: scikit-image's ``lfw_subset``, 200 grayscale 25×25 crops, 100 faces and 100
  non-faces (labels 1 and 0).
* :func:`photo_patches`: non-overlapping colour patches of 16×16 or 32×32 cut from four of
  scikit-image's bundled photographs (astronaut, coffee, chelsea, rocket).
* :func:`image_folder`: a user's PNG/JPEG files, centre-cropped and resized.
* :func:`load_checkpoint`: a local state dict, read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from neon_theory.checks import check_choice, check_int, check_path

SPLITS = ("train", "test", "all")
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
#: A folder holding more images than this is refused (load a subset, or raise the limit).
MAX_FOLDER_IMAGES = 100_000


@dataclass(frozen=True)
class ImageData:
    """Images and labels of one split.

    Attributes:
        images (Tensor): shape (N, C, H, W), float32, values in [-1, 1].
        labels (Tensor | None): shape (N,), int64, in [0, num_classes), or None.
        name (str): where the images came from.
        num_classes (int | None): the number of classes when labelled.
    """

    images: Tensor
    labels: Tensor | None
    name: str
    num_classes: int | None = None

    def __post_init__(self):
        x = self.images
        if not isinstance(x, Tensor) or x.ndim != 4 or x.dtype != torch.float32:
            raise ValueError(f"images must be a float32 tensor of shape (N, C, H, W); got {getattr(x, 'shape', type(x).__name__)}")
        if x.numel() and (not bool(torch.isfinite(x).all()) or float(x.min()) < -1 or float(x.max()) > 1):
            raise ValueError("images must hold finite values in [-1, 1]")
        if self.labels is not None:
            y = self.labels
            if not isinstance(y, Tensor) or y.shape != (x.shape[0],) or y.dtype != torch.int64:
                raise ValueError(f"labels must be an int64 tensor of shape ({x.shape[0]},)")
            if self.num_classes is None or (y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.num_classes)):
                raise ValueError(f"labels must lie in [0, num_classes) with num_classes given; got num_classes={self.num_classes}")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def shape(self) -> tuple:
        """(C, H, W) of one image."""
        return tuple(self.images.shape[1:])


def _to_unit(x: np.ndarray, top: float) -> Tensor:
    """Pixel values in [0, top] → float32 in [-1, 1]."""
    return torch.as_tensor(np.asarray(x, dtype=np.float32) / top * 2 - 1).clamp_(-1, 1)


def _split_mask(n: int, split: str) -> np.ndarray:
    check_choice("split", split, SPLITS)
    test = np.arange(n) % 5 == 0
    return np.ones(n, bool) if split == "all" else (test if split == "test" else ~test)


def _resize(x: Tensor, size: int) -> Tensor:
    """Bilinear resize of (N, C, H, W) to size × size, kept in [-1, 1]."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True).clamp_(-1, 1)


def _require(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ValueError(f"this data set needs {module.split('.')[0]}: pip install 'neon-theory[images]'") from None


def digits(split: str = "train", size: int = 8) -> ImageData:
    """scikit-learn's handwritten digits: (N, 1, size, size), labels 0–9; ``size`` is 8 or 16."""
    check_choice("size", size, (8, 16))
    d = _require("sklearn.datasets").load_digits()
    keep = _split_mask(len(d.images), split)
    x = _resize(_to_unit(d.images[keep][:, None], 16.0), size)
    return ImageData(x.contiguous(), torch.as_tensor(d.target[keep], dtype=torch.int64), f"digits{size}/{split}", 10)


def faces(split: str = "train") -> ImageData:
    """scikit-image's ``lfw_subset``: (N, 1, 25, 25); label 1 for the 100 faces, 0 for the 100 non-faces."""
    x = _require("skimage.data").lfw_subset()
    keep = _split_mask(len(x), split)
    labels = (np.arange(len(x)) < 100).astype(np.int64)  # the set holds the faces first
    return ImageData(_to_unit(x[keep][:, None], 1.0), torch.as_tensor(labels[keep]), f"faces/{split}", 2)


def photo_patches(split: str = "train", size: int = 16) -> ImageData:
    """Non-overlapping (3, size, size) patches of four bundled photographs; ``size`` is 16 or 32.

    The label of a patch is the index of its photograph in :data:`PHOTOS` (4 classes), so a
    class-conditional model and the feature classifier have a target without any annotation.
    A patch at grid row r and column c of its photograph is a test patch when (r + c) % 5 == 0,
    so test patches are spread over every photograph and never overlap a training patch.
    """
    check_choice("size", size, (16, 32))
    check_choice("split", split, SPLITS)
    data = _require("skimage.data")
    patches, labels = [], []
    for label, name in enumerate(PHOTOS):
        img = getattr(data, name)()[..., :3]
        rows, cols = img.shape[0] // size, img.shape[1] // size
        grid = img[: rows * size, : cols * size].reshape(rows, size, cols, size, 3).transpose(0, 2, 4, 1, 3)  # (r, c, 3, s, s)
        r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        test = (r + c) % 5 == 0
        keep = np.ones_like(test) if split == "all" else (test if split == "test" else ~test)
        patches.append(grid[keep])
        labels.append(np.full(int(keep.sum()), label, dtype=np.int64))
    labels = torch.as_tensor(np.concatenate(labels))
    return ImageData(_to_unit(np.concatenate(patches), 255.0), labels, f"patches{size}/{split}", len(PHOTOS))


def image_folder(path: str | os.PathLike, size: int, *, channels: int = 3, limit: int = MAX_FOLDER_IMAGES) -> ImageData:
    """The PNG/JPEG files of a folder (sorted by name, not recursive), centre-cropped to a square and resized.

    Args:
        path: the folder.
        size (int): side of the square images, in [4, 1024].
        channels (int): 1 (grayscale) or 3 (RGB).
        limit (int): at most this many images (the folder is refused if it holds more).

    Raises:
        ValueError: a missing or empty folder, too many images, or a file that is not a
            readable image (the message names it).
    """
    from PIL import Image, UnidentifiedImageError

    folder = check_path("path", path)
    check_int("size", size, lo=4, hi=1024)
    check_choice("channels", channels, (1, 3))
    check_int("limit", limit, lo=1)
    if not folder.is_dir():
        raise ValueError(f"path must be a folder of PNG/JPEG images; {str(folder)!r} is not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise ValueError(f"path {str(folder)!r} holds no {'/'.join(IMAGE_SUFFIXES)} file")
    if len(files) > limit:
        raise ValueError(f"path {str(folder)!r} holds {len(files)} images, more than limit={limit}")
    out = []
    for f in files:
        try:
            with Image.open(f) as im:
                im = im.convert("RGB" if channels == 3 else "L")
                side = min(im.size)
                left, top = (im.size[0] - side) // 2, (im.size[1] - side) // 2
                im = im.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.BILINEAR)
                a = np.asarray(im, dtype=np.float32)
        except (UnidentifiedImageError, OSError, ValueError) as e:
            raise ValueError(f"image {f.name!r} in {str(folder)!r} cannot be read: {type(e).__name__}: {e}") from None
        out.append(a[None] if channels == 1 else a.transpose(2, 0, 1))
    return ImageData(_to_unit(np.stack(out), 255.0), None, f"folder:{folder.name}")


def load_checkpoint(path: str | os.PathLike, module: nn.Module, *, key: str | None = None) -> nn.Module:
    """Load a local state dict into ``module`` safely (``torch.load(weights_only=True)``); returns ``module``.

    Args:
        path: a file written by ``torch.save(module.state_dict(), path)`` (or a dict holding
            it under ``key``, e.g. ``"state_dict"``).
        module: the model whose parameters and buffers are replaced (on its own device).
        key: where the state dict sits inside the saved dict, if not at the top.

    Raises:
        ValueError: a missing, truncated or corrupt file; one that holds anything but tensors
            and plain containers (``weights_only`` refuses to unpickle it); or a state dict
            whose names or shapes do not match ``module`` (the message names them).
    """
    p = check_path("path", path)
    if not p.is_file():
        raise ValueError(f"checkpoint {str(p)!r} does not exist or is not a file")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for a truncated zip, a pickle it refuses, ...
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ValueError(f"checkpoint {str(p)!r} is not a readable weights-only state dict: {type(e).__name__}: {first}") from None
    if key is not None:
        if not isinstance(state, dict) or key not in state:
            raise ValueError(f"checkpoint {str(p)!r} has no entry {key!r}")
        state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"checkpoint {str(p)!r} must hold a state dict (names → tensors); got {type(state).__name__}")
    own = module.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        found = (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
        parts = [f"{what} {names[:5]}{' …' if len(names) > 5 else ''}" for what, names in found if names]
        raise ValueError(f"checkpoint {str(p)!r} does not fit the module: " + "; ".join(parts))
    if any(not bool(torch.isfinite(v).all()) for v in state.values() if v.is_floating_point()):
        raise ValueError(f"checkpoint {str(p)!r} holds non-finite weights")
    module.load_state_dict(state)
    return module


def load(name: str, split: str = "train", size: int | None = None) -> ImageData:
    """One bundled set by name: ``digits`` (size 8 or 16), ``faces`` (25) or ``patches`` (size 16 or 32)."""
    check_choice("name", name, ("digits", "faces", "patches"))
    if name == "digits":
        return digits(split, 8 if size is None else size)
    if name == "faces":
        if size not in (None, 25):
            raise ValueError(f"size must be 25 for faces; got {size}")
        return faces(split)
    return photo_patches(split, 16 if size is None else size)
