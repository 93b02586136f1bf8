"""Flat views of a module's trainable parameters θ (the vector the theory works with)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .checks import check_tensor
from .device import accumulator_dtype, module_device


def trainable_named_parameters(module: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """Named parameters with ``requires_grad``: the coordinates of θ, in a fixed order."""
    return [(k, p) for k, p in module.named_parameters() if p.requires_grad]


def num_parameters(module: nn.Module) -> int:
    return sum(p.numel() for _, p in trainable_named_parameters(module))


def parameter_vector(module: nn.Module, dtype: torch.dtype | None = None) -> Tensor:
    """θ as a flat detached vector on the module's device, shape (p,); default dtype: float64
    (the accumulator dtype of that device)."""
    device = module_device(module)
    dtype = dtype or accumulator_dtype(device)
    ps = [p.detach().reshape(-1).to(dtype) for _, p in trainable_named_parameters(module)]
    return torch.cat(ps) if ps else torch.zeros(0, dtype=dtype, device=device)


def flatten(tensors, like: list[Tensor], dtype: torch.dtype | None = None) -> Tensor:
    """Concatenate per-parameter tensors (``None`` = zeros) into a flat vector on the device of
    ``like``; default dtype: that device's accumulator dtype (float64)."""
    device = like[0].device if like else torch.get_default_device()
    dtype = dtype or accumulator_dtype(device)
    if not like:
        return torch.zeros(0, dtype=dtype, device=device)
    parts = [torch.zeros(p.numel(), dtype=p.dtype, device=p.device) if t is None else t.detach().reshape(-1) for t, p in zip(tensors, like)]
    if len({(t.dtype, t.device) for t in parts}) == 1:  # one cast of the whole vector, not one per tensor
        return torch.cat(parts).to(dtype)
    return torch.cat([t.to(device=device, dtype=dtype) for t in parts])


def unflatten(vector: Tensor, module: nn.Module) -> dict[str, Tensor]:
    """Split a flat vector into tensors shaped like the module's trainable parameters."""
    named = trainable_named_parameters(module)
    total = sum(p.numel() for _, p in named)
    check_tensor("vector", vector, shape=(total,))
    out, i = {}, 0
    for k, p in named:
        out[k] = vector[i : i + p.numel()].reshape(p.shape).to(p)  # p's dtype and device
        i += p.numel()
    return out


@torch.no_grad()
def set_parameter_vector(module: nn.Module, vector: Tensor) -> None:
    """Write a flat vector into the module's trainable parameters, in place."""
    for k, v in unflatten(vector, module).items():
        module.get_parameter(k).copy_(v)


def state_vector(module: nn.Module, state_dict, dtype: torch.dtype | None = None) -> Tensor:
    """The trainable coordinates of ``state_dict`` (e.g. θ_s) as a flat vector in ``module``'s order,
    on ``module``'s device; default dtype: that device's accumulator dtype (float64)."""
    missing = [k for k, _ in trainable_named_parameters(module) if k not in state_dict]
    if missing:
        raise ValueError(f"state_dict lacks parameters {missing[:5]}")
    device = module_device(module)
    dtype = dtype or accumulator_dtype(device)
    parts = [state_dict[k].detach().reshape(-1).to(device=device, dtype=dtype) for k, _ in trainable_named_parameters(module)]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=dtype, device=device)
