"""Neon along other directions than the fine-tuning step: is the self-training needed?

Neon merges θ_r − wΔ along the realised step Δ = θ_s − θ_r.  Theorem B.1 reads Δ to first order as
−αP r_s, which needs no fine-tuning at all: only the population gradient on synthetic data and
the optimizer's preconditioner.  :func:`compare_directions` puts any set of directions on an equal
footing: each gets its own Brent search for the best w on the same metric, with the same
evaluation noise, and reports the gain over the base and the cosine to a reference direction.

The directions a study compares (:data:`DIRECTION_ARMS`):

- ``step``: the real fine-tuned Δ (what Neon uses);
- ``first-order``: −αP r_s from population gradients (Thm B.1's direction, no fine-tuning);
- ``one-step``: one optimizer step on all of S with the budget's summed learning rate α (for Adam
  the first step is lr·g/(|g| + ε), so this is −α·sign(∇L_S) up to ε; for SGD it is −α∇L_S):
  one gradient on S instead of the fine-tune's many (:func:`one_step_direction`);
- ``random``: a direction drawn from N(0, I), scaled to ‖Δ‖: the control that must lose
  (:func:`random_direction`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from .alignment import _cos
from .checks import check_choice, check_generator, check_tensor
from .contracts import GenerativeModel, check_model
from .params import num_parameters, parameter_vector, unflatten

#: the directions a study compares, and what each is
DIRECTION_ARMS = {
    "step": "the real fine-tuned displacement θ_s − θ_r",
    "first-order": "−αP r_s from population gradients, no fine-tuning (Thm B.1's direction)",
    "one-step": "one optimizer step on all of S at the budget's summed learning rate α",
    "random": "a N(0, I) direction scaled to the step's norm (the control that must lose)",
    "random-2": "a second, independent random direction (what the random one is compared with in its own control)",
}


@dataclass(frozen=True)
class DirectionResult:
    """One direction's best merge.

    Attributes:
        best_w (float): Brent's best w for θ_r − w·d on the metric.
        value (float): the metric there; base_value (float): at w = 0.
        gain (float): base_value − value (≥ 0 up to the search's tolerance: w = 0 is in the bracket).
        at_boundary (bool): the best w at an edge of the bracket.
        norm (float): ‖d‖.
        cosine (float): cos(d, reference direction); 1 for the reference itself; 0 for a zero vector.
    """

    best_w: float
    value: float
    base_value: float
    gain: float
    at_boundary: bool
    norm: float
    cosine: float


def endpoint(model: GenerativeModel, direction: Tensor) -> dict:
    """The state dict of θ_r + direction (buffers and frozen parameters as θ_r's), the "θ_s" whose merge
    θ_r − w(θ_s − θ_r) moves along −w·direction."""
    check_tensor("direction", direction, shape=(num_parameters(model.module),))
    theta = parameter_vector(model.module) + direction.to(parameter_vector(model.module))
    return {**model.module.state_dict(), **unflatten(theta, model.module)}


def random_direction(like: Tensor, generator: torch.Generator) -> Tensor:
    """A direction drawn from N(0, I) (on ``generator``, CPU) and scaled to ‖like‖, on like's device and dtype."""
    from .rng import draw

    check_generator("generator", generator)
    check_tensor("like", like, shape=(None,))
    g = draw(torch.randn, like.numel(), generator=generator, dtype=torch.float64, device="cpu").to(like)
    norm = float(g.norm())
    return g * (float(like.norm()) / norm) if norm > 0 else g


def one_step_direction(model: GenerativeModel, S: Tensor, alpha: float, *, optimizer: str = "adam", generator: torch.Generator) -> Tensor:
    """θ_r's displacement after one ``optimizer`` step on all of S at learning rate α (the budget's summed rate).

    Args:
        model: θ_r.
        S (Tensor): the synthetic set.
        alpha (float): lr × steps of the fine-tune it stands in for.
        optimizer (str): the fine-tune's (``"adam"`` or ``"sgd"``).
        generator: the loss noise of the step.
    """
    from .neon import self_train, step_displacement

    check_model(model)
    check_choice("optimizer", optimizer, ("adam", "sgd"))
    st = self_train(model, S, steps=1, lr=alpha, batch_size=S.shape[0], optimizer=optimizer, generator=generator)
    return step_displacement(model, st.state_dict)


def compare_directions(
    model: GenerativeModel,
    directions: dict,
    metric: Callable,
    *,
    reference: str = "step",
    bracket: tuple = (-2.0, 2.0),
    xtol: float = 1e-3,
    eval_seed: int = 0,
) -> dict:
    """Brent's best w along each direction on one metric, with common evaluation noise.

    Args:
        model: θ_r.
        directions (dict): name → direction d (shape (p,)): the merge is θ_r − w·d.
        metric: ``metric(model, generator)`` (lower is better).
        reference (str): the name whose direction the cosines are taken to.
        bracket, xtol, eval_seed: :func:`~neon_theory.neon.brent_best_w`'s.

    Returns:
        dict: name → :class:`DirectionResult`.
    """
    from .neon import brent_best_w

    check_model(model)
    for name, d in directions.items():
        check_tensor(f"directions[{name!r}]", d, shape=(num_parameters(model.module),))
    if reference not in directions:
        raise ValueError(f"reference must be one of the directions {sorted(directions)}; got {reference!r}")
    ref = directions[reference].double()
    out = {}
    for name, d in directions.items():
        best = brent_best_w(model, endpoint(model, d), metric, bracket=bracket, xtol=xtol, eval_seed=eval_seed)
        out[name] = DirectionResult(best.w, best.value, best.base_value, best.gain, best.at_boundary, float(d.double().norm()),
                                    _cos(d.double(), ref))
    return out


__all__ = ["DIRECTION_ARMS", "DirectionResult", "compare_directions", "endpoint", "one_step_direction", "random_direction"]
