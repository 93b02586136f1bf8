"""Devices: which one a command runs on, where the engine's tensors live, and what precision they sum in.

The engine puts everything it creates (accumulators, per-sample gradients, preconditioners,
merged tensors) on the device of the model's parameters (:func:`module_device`).

Accumulators are float64 wherever the device has it (CPU, CUDA).  A device without float64
(Apple's MPS) accumulates in float32 instead, and :class:`RunningSum` then adds with Kahan
compensation, so a sum of n terms is off by about 2·eps₃₂·Σ|xᵢ| (eps₃₂ ≈ 1.2e-7) rather
than n·eps₃₂·Σ|xᵢ|: error bars of the order of 1e-7 relative, not the float64 1e-16.
"""

from __future__ import annotations

import contextlib
import functools
import itertools

import torch
from torch import Tensor, nn

#: Device types without float64 (they accumulate in float32 with compensation).
NO_FLOAT64 = ("mps",)
_ACCEPTED = "'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'"


def default_device(device: str | torch.device):
    """A context in which tensors and modules created without a device go to ``device``.

    ``torch.device(d)`` as a context manager installs a function mode that sees every torch call
    (18–27% of a small MLP's training step on one CPU thread, measured by ``benchmarks/run.py``);
    when ``device`` is already the default it changes nothing, so no mode is installed."""
    device = torch.device(device)
    current = torch.get_default_device()
    if device.type == current.type and (device.index is None or device.index == current.index):
        return contextlib.nullcontext()
    return device


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto`` (CUDA if present, else CPU) as a ``torch.device``.

    Raises:
        ValueError: naming ``device`` for any other name, or for a device this machine lacks.
    """
    if name is None or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be one of {_ACCEPTED}; got {name!r}") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device must be one of {_ACCEPTED}; got {name!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for but CUDA is not available on this machine; use 'cpu' or 'auto'")
    if device.type == "cuda" and device.index is not None and device.index >= (count := torch.cuda.device_count()):
        raise ValueError(f"device {name!r} was asked for but this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {name!r} was asked for but MPS is not available on this machine; use 'cpu' or 'auto'")
    return device


def module_device(module: nn.Module) -> torch.device:
    """Where θ lives: the device of the module's first parameter (or buffer); the default device if it has none."""
    first = next(itertools.chain(module.parameters(), module.buffers()), None)
    return torch.get_default_device() if first is None else first.device


def accumulator_dtype(device: str | torch.device) -> torch.dtype:
    """float64, or float32 on a device without float64 (see the module docstring)."""
    return torch.float32 if torch.device(device).type in NO_FLOAT64 else torch.float64


def to_accumulator(t: Tensor) -> Tensor:
    """``t`` in the accumulator dtype of its own device (``.double()`` where float64 exists)."""
    return t.to(accumulator_dtype(t.device))


class RunningSum:
    """A sum of tensors added one at a time, on ``device`` in its accumulator dtype.

    Args:
        shape: the shape of the sum.
        device: where it lives.
        dtype: override the accumulator dtype (float32 forces the compensated path).

    Attributes:
        total (Tensor): the sum so far, shape ``shape``.
    """

    def __init__(self, shape, device: str | torch.device, dtype: torch.dtype | None = None):
        self.total = torch.zeros(shape, dtype=dtype or accumulator_dtype(device), device=device)
        # float64 needs no compensation; below it, Kahan keeps the error independent of the count
        self._carry = None if self.total.dtype == torch.float64 else torch.zeros_like(self.total)

    def add_parts(self, parts, sizes, index) -> None:
        """``total[index] += cat(parts)``, each part (``None``: zeros of its size) added flat into its
        slice of the row, without forming the concatenation or a float64 copy of it.

        Args:
            parts: tensors or ``None``, one per slice.
            sizes: the number of elements of each slice.
            index: the row.
        """
        if self._carry is not None:  # the compensated sum works on whole rows
            zeros = functools.partial(torch.zeros, dtype=self.total.dtype, device=self.total.device)
            self.add(torch.cat([zeros(n) if t is None else t.reshape(-1).to(self.total.dtype) for t, n in zip(parts, sizes)]), index)
            return
        if all(p is not None for p in parts) and len({(p.dtype, p.device) for p in parts}) == 1:
            # one concatenation in the parts' own dtype, then one add that promotes to float64 in the kernel
            self.total[index].add_(torch.cat([p.reshape(-1) for p in parts]))
            return
        for view, part in zip(self.total[index].split(list(sizes)), parts):
            if part is not None:
                view.add_(part.reshape(-1))

    def add(self, x: Tensor, index=...) -> None:
        """``total[index] += x`` (compensated below float64)."""
        x = x.to(self.total.dtype)
        if self._carry is None:
            self.total[index] += x
            return
        y = x - self._carry[index]
        t = self.total[index] + y
        self._carry[index] = (t - self.total[index]) - y  # what the rounding of t lost
        self.total[index] = t


def compile_module(module: nn.Module, **options) -> nn.Module:
    """``torch.compile`` a module in place (``nn.Module.compile``), keeping its state-dict names; returns it.

    ``copy.deepcopy`` of a module drops its compiled call; the options are kept on the module so
    that :func:`neon_theory.neon.working_copy` compiles each copy again (self-training and the
    w-search work on copies).  ``options`` are ``torch.compile``'s (``backend``, ``mode``, …).
    """
    if not isinstance(module, nn.Module):
        raise ValueError(f"module must be a torch.nn.Module; got {type(module).__name__}")
    module.compile(**options)
    module._neon_compile_options = dict(options)
    return module
