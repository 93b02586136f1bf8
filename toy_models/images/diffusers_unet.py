"""Bring your own image network: a diffusers ``UNet2DModel`` on the engine's contract.

:class:`DiffusersUNet` wraps any ``diffusers.UNet2DModel`` as a :class:`~toy_models._conditional.TimeNet`
(flat images (n, C·H·W), time in [0, 1], labels with −1 = the null class), so
:class:`~toy_models.diffusion.DiffusionModel` and :class:`~toy_models.flow.FlowModel`, their
samplers and every engine estimator run on it unchanged: population gradients, P, s, self-training,
the merge and Brent.  :func:`tiny_unet2d` builds a small randomly initialised one from a seed
(nothing is downloaded; a user's trained weights load with
:func:`toy_models.images.data.load_checkpoint`).

diffusers is an optional dependency: ``pip install 'neon-theory[diffusers]'``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from neon_theory.checks import check_int

from .._conditional import TimeNet


def _diffusers():
    try:
        import diffusers
    except ImportError:
        raise ValueError("the diffusers network needs diffusers: pip install 'neon-theory[diffusers]'") from None
    return diffusers


class DiffusersUNet(TimeNet):
    """A ``diffusers.UNet2DModel`` as a time-conditioned network on flattened images.

    Args:
        unet: the ``UNet2DModel``; class-conditional when built with ``num_class_embeds`` = classes + 1
            (the last embedding is the null class of classifier-free guidance).
        timesteps (int): the time input t ∈ [0, 1] is passed to the UNet as the timestep t·(timesteps − 1).

    Normalisation must not couple the examples of a batch (GroupNorm, as diffusers uses, is fine).
    """

    def __init__(self, unet: nn.Module, timesteps: int = 1000):
        diffusers = _diffusers()
        if not isinstance(unet, diffusers.UNet2DModel):
            raise ValueError(f"unet must be a diffusers.UNet2DModel; got {type(unet).__name__}")
        cfg = unet.config
        size = cfg.sample_size
        if isinstance(size, int):
            size = (size, size)
        if not (isinstance(size, (tuple, list)) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
            raise ValueError(f"unet.config.sample_size must be the image side (an int) or (H, W); got {cfg.sample_size!r}")
        if cfg.class_embed_type is not None:
            raise ValueError(f"unet must take classes through num_class_embeds (class_embed_type=None); got class_embed_type={cfg.class_embed_type!r}")
        H, W = size
        if cfg.in_channels != cfg.out_channels:
            raise ValueError(f"unet must map images to images of the same channels; got {cfg.in_channels} → {cfg.out_channels}")
        classes = (cfg.num_class_embeds or 1) - 1
        super().__init__(cfg.in_channels * H * W, classes)
        self.unet, self.shape = unet, (cfg.in_channels, H, W)
        self.timesteps = check_int("timesteps", timesteps, lo=2)

    def forward(self, x: Tensor, time_input: Tensor, labels: Tensor | None = None) -> Tensor:
        """x (n, C·H·W), time_input (n, 1) in [0, 1], labels (n,) with −1 = null → (n, C·H·W)."""
        t = time_input.reshape(-1) * (self.timesteps - 1)
        classes = None
        if self.num_classes:
            labels = torch.full((x.shape[0],), -1, dtype=torch.long, device=x.device) if labels is None else labels
            classes = torch.where(labels < 0, torch.full_like(labels, self.num_classes), labels)
        out = self.unet(x.reshape(x.shape[0], *self.shape), t, class_labels=classes).sample
        return out.reshape(x.shape[0], -1)


def tiny_unet2d(shape: tuple, *, num_classes: int = 0, channels: int = 16, seed: int = 0) -> "DiffusersUNet":
    """A small randomly initialised ``UNet2DModel`` (two levels, GroupNorm, self-attention in the middle block) for images of ``shape``.

    Args:
        shape (tuple): (C, H, W) with H = W divisible by 2.
        num_classes (int): 0 (unconditional) or the number of classes (plus a null embedding).
        channels (int): width of the first level (the second has twice as many), in [8, inf) and a multiple of 8.
        seed (int): the initialisation seed.
    """
    diffusers = _diffusers()
    if not (isinstance(shape, (tuple, list)) and len(shape) == 3):
        raise ValueError(f"shape must be (C, H, W); got {shape!r}")
    C, H, W = (check_int(n, v, lo=1) for n, v in zip(("C", "H", "W"), shape))
    if H != W or H % 2:
        raise ValueError(f"shape must be square with an even side for two UNet levels; got {tuple(shape)}")
    if check_int("channels", channels, lo=8) % 8:
        raise ValueError(f"channels must be a multiple of 8 (GroupNorm groups); got {channels}")
    check_int("num_classes", num_classes, lo=0)
    torch.manual_seed(check_int("seed", seed, lo=0))
    unet = diffusers.UNet2DModel(
        sample_size=H, in_channels=C, out_channels=C, block_out_channels=(channels, 2 * channels), layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=8,
        num_class_embeds=num_classes + 1 if num_classes else None,
    )
    return DiffusersUNet(unet)
