"""Shared pieces of the conditional MLP generators (diffusion and flow matching).

Conditional data are one tensor of shape (n, D + 1) whose last column is the integer
class label; the network sees a one-hot label with an extra "null" slot (index C) used for
unconditional predictions and classifier-free guidance.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from neon_theory.checks import check_generator, check_int, check_real, check_tensor
from neon_theory.rng import draw, multinomial

#: rows per network call while sampling: one call on 10⁶ rows thrashes the CPU caches and was
#: 3.5× slower than calls on 16,384-row slices (``neon-theory bench``'s toy timings)
SAMPLE_CHUNK = 16_384


def in_row_chunks(fn, x: Tensor, labels: Tensor | None, rows: int = SAMPLE_CHUNK) -> Tensor:
    """``fn(x, labels)`` evaluated on slices of ``rows`` rows and concatenated (rows do not interact)."""
    if x.shape[0] <= rows:
        return fn(x, labels)
    return torch.cat([fn(x[a : a + rows], None if labels is None else labels[a : a + rows]) for a in range(0, x.shape[0], rows)])


class TimeNet(nn.Module):
    """The network the diffusion and flow families train: ``forward(x (n, D), time (n, 1),
    labels (n,) with −1 = the null class) -> (n, D)``, with ``dim`` = D and ``num_classes``
    (0 = unconditional).  :class:`TimeMLP` and the image UNet are two of them."""

    def __init__(self, dim: int, num_classes: int = 0):
        super().__init__()
        self.dim = check_int("dim", dim, lo=1)
        self.num_classes = check_int("num_classes", num_classes, lo=0)


class TimeMLP(TimeNet):
    """MLP on (x, time[, one-hot class with a null slot]) → ℝ^D.

    The default is the official diffusion toy: Linear(D+1→32), 4×[Linear(32,32)+ReLU],
    Linear(32→D).
    """

    def __init__(self, dim: int = 2, hidden: int = 32, depth: int = 4, num_classes: int = 0):
        super().__init__(dim, num_classes)
        check_int("hidden", hidden, lo=1)
        check_int("depth", depth, lo=0)
        in_dim = dim + 1 + (num_classes + 1 if num_classes else 0)
        layers: list[nn.Module] = [nn.Linear(in_dim, hidden)]
        for _ in range(depth):
            layers += [nn.Linear(hidden, hidden), nn.ReLU()]
        layers.append(nn.Linear(hidden, dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor, time_input: Tensor, labels: Tensor | None = None) -> Tensor:
        """x (Tensor): (n, D); time_input: (n, 1); labels: (n,) long with −1 = null class."""
        parts = [x, time_input]
        if self.num_classes:
            idx = torch.where(labels < 0, torch.full_like(labels, self.num_classes), labels)
            parts.append(nn.functional.one_hot(idx, self.num_classes + 1).to(x.dtype))
        return self.net(torch.cat(parts, -1))


def class_law(num_classes: int, class_probs: Tensor | None) -> Tensor:
    """The law of the labels attached to samples, shape (num_classes,), float64: uniform by default."""
    cp = torch.full((num_classes,), 1.0 / num_classes) if class_probs is None else class_probs
    check_tensor("class_probs", cp, shape=(num_classes,))
    return cp.double() / cp.double().sum()


class ConditionalGenerator:
    """Mixin: data layout, label dropout and label sampling for a :class:`TimeNet` generator."""

    module: TimeNet

    def _init_conditional(self, module: TimeNet, p_uncond: float, class_probs: Tensor | None) -> None:
        if not isinstance(module, TimeNet):
            raise ValueError(f"module must be a TimeNet (e.g. TimeMLP or the image TimeUNet); got {type(module).__name__}")
        self.module = module
        self.dim, self.num_classes = module.dim, module.num_classes
        self.p_uncond = check_real("p_uncond", p_uncond, 0.0, 1.0, hi_open=True)
        if self.num_classes:
            self.class_probs = class_law(self.num_classes, class_probs)

    @property
    def dtype(self) -> torch.dtype:
        return next(self.module.parameters()).dtype

    @property
    def device(self) -> torch.device:
        """Where θ lives; noise, samples and labels are put there."""
        return next(self.module.parameters()).device

    def split(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """Values (n, D) in the module dtype and labels (n,) (``None`` if unconditional), on θ's device."""
        x = check_tensor("x", x, shape=(None, self.dim + (1 if self.num_classes else 0))).to(self.device)
        if not self.num_classes:
            return x.to(self.dtype), None
        return x[:, : self.dim].to(self.dtype), x[:, self.dim].round().long()

    def label_drop(self, n: int, generator: torch.Generator) -> tuple:
        """The label-dropout part of the loss noise (empty for unconditional models)."""
        return (draw(torch.rand, n, generator=generator, device=self.device) < self.p_uncond,) if self.num_classes else ()

    @staticmethod
    def dropped(labels: Tensor | None, noise) -> Tensor | None:
        """Labels with the dropped ones set to the null class −1 (noise[-1] is the drop mask)."""
        if labels is None:
            return None
        return torch.where(noise[-1], torch.full_like(labels, -1), labels)

    def sample_labels(self, n: int, generator: torch.Generator) -> Tensor | None:
        if not self.num_classes:
            return None
        check_int("n", n, lo=1)
        return multinomial(self.class_probs, n, generator=check_generator("generator", generator), replacement=True, device=self.device)

    @staticmethod
    def attach(x: Tensor, labels: Tensor | None) -> Tensor:
        return x if labels is None else torch.cat([x, labels[:, None].to(x.dtype)], -1)
