"""Explicit, named random streams derived from one integer seed.

Streams are derived by name, not by draw order, so that changing how many numbers one
stream consumes (say, a sharper sampler) never shifts another (say, the loss noise).
That is what makes common random numbers hold across a sweep.

Generators live on the CPU unless asked otherwise, and :func:`draw` / :func:`multinomial`
draw where the generator lives and move the result to the model's device, so a stream's
numbers do not depend on the device the model runs on.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch
from torch import Tensor

from .checks import check_int


def child_seed(seed: int, name: str) -> int:
    """A 63-bit seed for the stream ``name`` under ``seed`` (stable across runs and platforms)."""
    check_int("seed", seed, lo=0)
    ss = np.random.SeedSequence(entropy=seed, spawn_key=(zlib.crc32(name.encode()),))
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def generator(seed: int, name: str = "", device: str | torch.device = "cpu") -> torch.Generator:
    """A fresh ``torch.Generator`` for stream ``name`` of ``seed``."""
    g = torch.Generator(device=device)
    g.manual_seed(child_seed(seed, name) if name else check_int("seed", seed, lo=0))
    return g


def draw(factory, *args, generator: torch.Generator, device: str | torch.device | None = None, **kwargs) -> Tensor:
    """``factory(*args, generator=generator, **kwargs)`` (``torch.randn``, ``rand``, ``randint``,
    ``randperm``) drawn on the generator's device, then moved to ``device`` (default: the default device).

    A CPU generator gives the same numbers whether the model is on the CPU or a GPU, so named
    streams keep common random numbers across devices (torch refuses a CPU generator for a draw
    made on CUDA).
    """
    out = factory(*args, generator=generator, device=generator.device, **kwargs)
    return out.to(torch.get_default_device() if device is None else device)


def multinomial(probs: Tensor, num_samples: int, *, generator: torch.Generator, replacement: bool = False, device=None) -> Tensor:
    """``torch.multinomial`` drawn on the generator's device (see :func:`draw`), returned on
    ``device`` (default: the device of ``probs``)."""
    out = torch.multinomial(probs.to(generator.device), num_samples, replacement, generator=generator)
    return out.to(probs.device if device is None else device)
