"""Explicit, named random streams derived from one integer seed.

Streams are derived by name, not by draw order, so that changing how many numbers one
stream consumes (say, a sharper sampler) never shifts another (say, the loss noise).
That is what makes common random numbers hold across a sweep.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch

from ._validation import check_int


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
