"""Devices: which one a command runs on, and what precision accumulators use there."""

from __future__ import annotations

import torch


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (CUDA if present, else CPU) as a ``torch.device``."""
    if name is None or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be one of 'cpu', 'cuda', 'cuda:N', 'auto'; got {name!r}") from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be one of 'cpu', 'cuda', 'cuda:N', 'auto'; got {name!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for but CUDA is not available on this machine; use 'cpu' or 'auto'")
    return device
