"""Train many small models as one: the self-training of K models of one shape in a single loop.

A toy's fine-tuning is thousands of tiny optimiser steps (the official AR toy: 24,500 Adam steps
of a 4.5k-parameter MLP per seed), which one thread runs one at a time.  :func:`self_train_many`
stacks the K models' parameters (``torch.func.stack_module_state``), takes every model's
minibatch gradient in one ``vmap`` of ``grad`` over ``functional_call``, and steps one optimiser
over the stacked tensors.  Adam and SGD act elementwise, so one optimiser over the stack is K
independent optimisers with the same lr and step count.

Each model keeps its own data, its own random streams (minibatch permutations and loss noise are
drawn from its own generators, in the order :func:`~neon_theory.neon.self_train` draws them),
its own optimiser state and its own losses: adding a model to the batch changes no other
model's numbers, and each result equals :func:`~neon_theory.neon.self_train` on that model alone
up to the round-off of batched matrix products (``tests/engine/test_batched.py``).
"""

from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad_and_value, stack_module_state, vmap

from .checks import check_generator, check_int, check_tensor
from .contracts import GenerativeModel, check_model
from .device import accumulator_dtype, module_device
from .neon import FineTuning, SelfTrainResult, _optimizer, minibatch_rows, working_copy
from .params import trainable_named_parameters


class _Loss(nn.Module):
    """The mean per-example loss of ``model`` as a module's forward, so that ``functional_call`` can
    swap its parameters: ``model.per_example_loss`` reads them through ``model.module``."""

    def __init__(self, model: GenerativeModel):
        super().__init__()
        self.net = model.module
        self._model = model

    def forward(self, x: Tensor, noise) -> Tensor:
        return self._model.per_example_loss(x, noise).mean()


def _stack_noise(noises: list):
    """The K models' loss noise as one batch (``None``, a tensor, or a tuple / dict of tensors)."""
    first = noises[0]
    if first is None:
        return None
    if isinstance(first, Tensor):
        return torch.stack(noises)
    if isinstance(first, tuple):
        return tuple(_stack_noise([n[i] for n in noises]) for i in range(len(first)))
    return {k: _stack_noise([n[k] for n in noises]) for k in first}


def _check_same_shape(works: list) -> list[str]:
    names = [(k, tuple(p.shape), p.dtype) for k, p in trainable_named_parameters(works[0].module)]
    for i, w in enumerate(works[1:], start=1):
        other = [(k, tuple(p.shape), p.dtype) for k, p in trainable_named_parameters(w.module)]
        if type(w.module) is not type(works[0].module) or other != names:
            raise ValueError(f"models must share one module class and parameter shapes; model {i} differs from model 0")
    return [k for k, _, _ in names]


def self_train_many(
    models: Sequence[GenerativeModel],
    data: Sequence[Tensor],
    *,
    fine_tuning: FineTuning,
    generators: Sequence[torch.Generator],
    noise_generators: Sequence[torch.Generator] | None = None,
    snapshot_steps=(),
    adam_betas: tuple[float, float] = (0.9, 0.999),
) -> list[SelfTrainResult]:
    """:func:`~neon_theory.neon.self_train` of K models at once (see the module docstring).

    Args:
        models: K models of one module class and parameter shapes (each left unchanged).
        data: K synthetic sets S_k with the same number of rows (each walked in epochs of
            ``fine_tuning.batch_size``, as :func:`~neon_theory.neon.self_train` walks one).
        fine_tuning: the budget every model gets (:class:`~neon_theory.neon.FineTuning`).
        generators: K generators of the minibatch permutations (and of the loss noise when
            ``noise_generators`` is None), one per model.
        noise_generators: K generators of the loss noise, or None.
        snapshot_steps: steps after which every model's θ is also recorded.

    Returns:
        K :class:`~neon_theory.neon.SelfTrainResult`, in the order of ``models``.

    Raises:
        ValueError: naming what differs, for models or sets that cannot share one loop, and for a
            loss that ``vmap`` cannot batch (one that branches on its data, e.g. checks its inputs
            for NaN: the toolkit's diffusion loss does).
    """
    models, data, generators = list(models), list(data), list(generators)
    K = len(models)
    if K < 1 or len(data) != K or len(generators) != K:
        raise ValueError(f"models, data and generators must be K >= 1 each; got {len(models)}, {len(data)} and {len(generators)}")
    noise_generators = generators if noise_generators is None else list(noise_generators)
    if len(noise_generators) != K:
        raise ValueError(f"noise_generators must be K = {K}; got {len(noise_generators)}")
    if not isinstance(fine_tuning, FineTuning):
        raise ValueError(f"fine_tuning must be a FineTuning(steps, lr, optimizer, batch_size); got {type(fine_tuning).__name__}")
    if fine_tuning.schedule != "constant":  # not implemented here (every model shares the rate, so a ramp would be one per-step rate)
        raise ValueError(f"fine_tuning.schedule must be 'constant' for batched self-training (a ramp is not implemented here); got {fine_tuning.schedule!r}")
    for m in models:
        check_model(m)
    for name, gens in (("generators", generators), ("noise_generators", noise_generators)):
        for g in gens:
            check_generator(name, g)
    sizes = {check_tensor("data", d, finite=False).shape[0] for d in data}
    if len(sizes) != 1 or 0 in sizes:
        raise ValueError(f"every synthetic set must hold the same, nonzero number of rows; got {sorted(sizes)}")
    n_s = sizes.pop()
    steps, lr = fine_tuning.steps, fine_tuning.lr
    B = n_s if fine_tuning.batch_size is None else check_int("batch_size", fine_tuning.batch_size, lo=1, hi=n_s)
    snaps = sorted({check_int("snapshot step", s, lo=1, hi=steps) for s in snapshot_steps})

    works = [working_copy(m) for m in models]
    names = _check_same_shape(works)
    device = module_device(works[0].module)
    data = [d.to(device) for d in data]
    stacked, buffers = stack_module_state([w.module for w in works])
    params = {k: stacked[k] for k in names}  # the trainable ones; frozen parameters ride with the buffers
    frozen = {k: v for k, v in stacked.items() if k not in params}
    skeleton = _Loss(works[0])

    def loss_of(p, fixed, x, noise):
        return functional_call(skeleton, {**{f"net.{k}": v for k, v in p.items()}, **{f"net.{k}": v for k, v in fixed.items()}}, (x, noise))

    # a loss without noise (an NLL model) takes None, which vmap must not split
    step_with_noise, step_without = vmap(grad_and_value(loss_of)), vmap(grad_and_value(loss_of), in_dims=(0, 0, 0, None))
    opt = _optimizer(fine_tuning.optimizer, list(params.values()), lr, adam_betas)
    fixed = {k: v.detach() for k, v in {**buffers, **frozen}.items()}
    losses = torch.empty(steps, K, dtype=accumulator_dtype(device), device=device)
    snapshots: list[dict] = [{} for _ in range(K)]
    walks = [minibatch_rows(n_s, B, g, device) for g in generators]  # each model its own permutations
    for t in range(1, steps + 1):
        x = torch.stack([d if index is None else d[index] for d, index in zip(data, (next(w) for w in walks))])
        noise = _stack_noise([w.draw_noise(B, g) for w, g in zip(works, noise_generators)])
        try:
            grads, value = (step_without if noise is None else step_with_noise)(params, fixed, x, noise)
        except RuntimeError as e:
            if "vmap" not in str(e):
                raise
            raise ValueError(
                f"{type(models[0]).__name__}'s loss cannot be trained as one under vmap: it branches on its data "
                "(a check such as a finiteness test, or .item()); train these models one at a time with self_train"
            ) from None
        values = value.detach().to(losses.dtype)
        losses[t - 1] = values
        if not bool(torch.isfinite(values).all()):  # the one host sync of the step
            bad = int((~torch.isfinite(values)).nonzero()[0])
            raise ValueError(f"self-training loss of model {bad} became non-finite at step {t}; lower lr (got {lr:g})")
        for k, p in params.items():
            p.grad = grads[k]
        opt.step()
        if t in snaps:
            for i in range(K):
                snapshots[i][t] = _state_dict(works[i].module, params, fixed, i)
    return [
        SelfTrainResult(_state_dict(works[i].module, params, fixed, i), losses[:, i].clone(), snapshots[i], lr, steps, B, fine_tuning.optimizer)
        for i in range(K)
    ]


def _state_dict(module: nn.Module, params: dict, fixed: dict, i: int) -> dict:
    """Model ``i``'s state dict, in ``module``'s keys and order, from the stacked tensors."""
    out = {}
    for k, v in module.state_dict().items():
        stacked = params.get(k, fixed.get(k))
        out[k] = copy.deepcopy(v) if stacked is None else stacked[i].detach().clone()
    return out


__all__ = ["self_train_many"]
