"""Flow matching with a velocity MLP on the GenerativeModel contract.

Path: x_t = (1 − t) x₀ + t x₁ with x₀ ~ N(0, I) and x₁ the data, t ~ U[0, 1]; target
velocity x₁ − x₀; loss = mean over dimensions of (v̂(x_t, t) − (x₁ − x₀))².
Sampling integrates dx/dt = v̂ from t = 0 to 1 on a uniform grid of n steps with
``Steps(n, "euler" | "heun" | "midpoint")`` (default 100 Euler steps), with optional
classifier-free guidance ``Guidance(γ)``: v̂_u + γ(v̂_c − v̂_u).
"""

from __future__ import annotations

import torch
from torch import Tensor

from neon_theory.checks import check_draw
from neon_theory.rng import draw
from neon_theory.samplers import Guidance, SamplerSpec, Steps, implementations

from ._conditional import ConditionalGenerator, TimeNet, in_row_chunks

SAMPLERS = implementations("flow sampling")


@SAMPLERS.register(Steps)
def _flow_steps(s: Steps, settings: tuple) -> tuple:
    if s.n is None:
        raise ValueError("flow sampling needs a finite number of steps n in [1, inf)")
    if s.solver not in ("euler", "heun", "midpoint"):
        raise ValueError(f"flow solver must be 'euler', 'heun' or 'midpoint'; got {s.solver!r}")
    return s, settings[1]


SAMPLERS.register(Guidance)(lambda s, settings: (settings[0], s))


def parse_flow_sampler(sampler: SamplerSpec | None) -> tuple[Steps, Guidance | None]:
    """(steps, guidance) of a spec: 100 Euler steps and no guidance unless it says otherwise."""
    return SAMPLERS.apply(sampler, (Steps(100, "euler"), None))


class FlowModel(ConditionalGenerator):
    """Flow-matching generator.

    Args:
        module (TimeNet): the velocity network (holds θ): a TimeMLP, or the image TimeUNet.
        p_uncond (float): label-drop probability in [0, 1) for conditional training.
        class_probs (Tensor | None): law of the labels attached to samples (default uniform).
    """

    def __init__(self, module: TimeNet, *, p_uncond: float = 0.1, class_probs: Tensor | None = None):
        self._init_conditional(module, p_uncond, class_probs)

    def draw_noise(self, n: int, generator: torch.Generator):
        """(t (n, 1), x₀ (n, D)[, label-drop mask (n,)])."""
        check_draw(n, generator)
        t = draw(torch.rand, n, 1, generator=generator, dtype=self.dtype, device=self.device)
        x0 = draw(torch.randn, n, self.dim, generator=generator, dtype=self.dtype, device=self.device)
        return (t, x0) + self.label_drop(n, generator)

    def per_example_loss(self, x: Tensor, noise) -> Tensor:
        x1, labels = self.split(x)
        t, x0 = noise[0], noise[1]
        xt = (1 - t) * x0 + t * x1
        return ((self.module(xt, t, self.dropped(labels, noise)) - (x1 - x0)) ** 2).mean(-1)

    def velocity(self, x: Tensor, t: float, labels: Tensor | None, gamma: float | None) -> Tensor:
        """v̂(x, t) (guided with γ when given), shape (n, D), evaluated in row slices."""
        return in_row_chunks(lambda xc, lc: self._velocity(xc, t, lc, gamma), x, labels)

    def _velocity(self, x: Tensor, t: float, labels: Tensor | None, gamma: float | None) -> Tensor:
        tt = torch.full((x.shape[0], 1), t, dtype=self.dtype, device=x.device)
        if labels is None:
            return self.module(x, tt)
        v_c = self.module(x, tt, labels)
        if gamma is None:
            return v_c
        v_u = self.module(x, tt, torch.full_like(labels, -1))
        return v_u + gamma * (v_c - v_u)

    @torch.no_grad()
    def sample(self, n: int, sampler: SamplerSpec | None, generator: torch.Generator) -> Tensor:
        """n draws, shape (n, D) (or (n, D + 1) with the label column for conditional models)."""
        check_draw(n, generator)
        steps, guidance = parse_flow_sampler(sampler)
        labels = self.sample_labels(n, generator)
        if guidance is not None and labels is None:
            raise ValueError("Guidance needs a class-conditional model")
        gamma = None if guidance is None else guidance.gamma
        x = draw(torch.randn, n, self.dim, generator=generator, dtype=self.dtype, device=self.device)
        h = 1.0 / steps.n
        for i in range(steps.n):
            t = i * h
            v = self.velocity(x, t, labels, gamma)
            if steps.solver == "euler":
                x = x + h * v
            elif steps.solver == "heun":
                x = x + 0.5 * h * (v + self.velocity(x + h * v, t + h, labels, gamma))
            else:
                x = x + h * self.velocity(x + 0.5 * h * v, t + 0.5 * h, labels, gamma)
        return self.attach(x, labels)
