"""A small UNet on flattened images, a drop-in for the MLP of the diffusion and flow families.

:class:`TimeUNet` has the interface of :class:`~toy_models._conditional.TimeMLP`: it maps
(x (n, C·H·W), time (n, 1), labels (n,) with −1 = the null class) to (n, C·H·W).  Images
travel through the engine as flat rows, so :class:`~toy_models.diffusion.DiffusionModel`
and :class:`~toy_models.flow.FlowModel`, their samplers (DDIM, the probability-flow ODE,
score scale ζ, guidance γ) and every engine estimator run on images unchanged.

Normalisation is GroupNorm only: BatchNorm would couple the examples of a batch, and the
per-example losses and gradients the engine needs would no longer be per example.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from neon_theory.checks import check_int

from .._conditional import TimeNet


def _groups(channels: int, groups: int) -> int:
    """The largest divisor of ``channels`` that is at most ``groups``."""
    return max(g for g in range(1, groups + 1) if channels % g == 0)


class _Block(nn.Module):
    """GroupNorm → SiLU → 3×3 conv, twice, with the time (and class) embedding added in between; residual."""

    def __init__(self, c_in: int, c_out: int, emb: int, groups: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(_groups(c_in, groups), c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb, c_out)
        self.norm2, self.conv2 = nn.GroupNorm(_groups(c_out, groups), c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Identity() if c_in == c_out else nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: Tensor, e: Tensor) -> Tensor:
        h = self.conv1(nn.functional.silu(self.norm1(x))) + self.emb(e)[:, :, None, None]
        return self.skip(x) + self.conv2(nn.functional.silu(self.norm2(h)))


class TimeUNet(TimeNet):
    """UNet on (x, time[, class]) for images of shape ``shape`` = (C, H, W), flattened.

    Args:
        shape (tuple): (C, H, W); H and W divisible by 2^(levels − 1).
        channels (int): width of the first level; level i has channels · 2^i.
        levels (int): resolutions, in [1, 4] (each halves H and W).
        groups (int): GroupNorm groups (at most; a divisor of each width is used).
        num_classes (int): 0 (unconditional) or the number of classes, with a null slot for
            classifier-free guidance.
    """

    def __init__(self, shape: tuple = (1, 8, 8), channels: int = 32, levels: int = 2, groups: int = 8, num_classes: int = 0):
        if not (isinstance(shape, (tuple, list)) and len(shape) == 3):
            raise ValueError(f"shape must be (C, H, W); got {shape!r}")
        C, H, W = (check_int(n, v, lo=1) for n, v in zip(("C", "H", "W"), shape))
        check_int("levels", levels, lo=1, hi=4)
        if H % 2 ** (levels - 1) or W % 2 ** (levels - 1):
            raise ValueError(f"H and W must be divisible by 2^(levels - 1) = {2 ** (levels - 1)}; got shape {tuple(shape)}")
        super().__init__(C * H * W, num_classes)
        self.shape = (C, H, W)
        check_int("channels", channels, lo=1)
        check_int("groups", groups, lo=1)
        emb = 4 * channels
        self.half = max(1, channels // 2)  # sinusoidal frequencies of the time embedding
        self.time = nn.Sequential(nn.Linear(2 * self.half, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.label = nn.Embedding(num_classes + 1, emb) if num_classes else None
        widths = [channels * 2**i for i in range(levels)]
        self.inp = nn.Conv2d(C, widths[0], 3, padding=1)
        self.down = nn.ModuleList(_Block(widths[max(i - 1, 0)], w, emb, groups) for i, w in enumerate(widths))
        self.mid = _Block(widths[-1], widths[-1], emb, groups)
        self.up = nn.ModuleList(_Block(2 * w, widths[max(i - 1, 0)], emb, groups) for i, w in reversed(list(enumerate(widths))))
        self.out = nn.Sequential(nn.GroupNorm(_groups(widths[0], groups), widths[0]), nn.SiLU(), nn.Conv2d(widths[0], C, 3, padding=1))

    def _embed(self, time_input: Tensor, labels: Tensor | None) -> Tensor:
        # sinusoidal features of t ∈ [0, 1] at geometric frequencies, as in DDPM
        freqs = torch.exp(-math.log(1000.0) * torch.arange(self.half, device=time_input.device, dtype=time_input.dtype) / self.half)
        angles = 1000.0 * time_input * freqs
        e = self.time(torch.cat([angles.sin(), angles.cos()], -1))
        if self.label is not None:
            e = e + self.label(torch.where(labels < 0, torch.full_like(labels, self.num_classes), labels))
        return e

    def forward(self, x: Tensor, time_input: Tensor, labels: Tensor | None = None) -> Tensor:
        """x (Tensor): (n, C·H·W); time_input: (n, 1); labels: (n,) long with −1 = null. Returns (n, C·H·W)."""
        e = self._embed(time_input, labels)
        h = self.inp(x.reshape(x.shape[0], *self.shape))
        skips = []
        for i, block in enumerate(self.down):
            h = block(h, e)
            skips.append(h)
            if i < len(self.down) - 1:
                h = nn.functional.avg_pool2d(h, 2)
        h = self.mid(h, e)
        for i, block in enumerate(self.up):
            if i > 0:
                h = nn.functional.interpolate(h, scale_factor=2.0, mode="nearest")
            h = block(torch.cat([h, skips.pop()], 1), e)
        return self.out(h).reshape(x.shape[0], -1)
