"""The ``diffusion`` image family: the UNet as an ε-prediction DDPM (cosine schedule), sampled by
DDIM (η = 0, x̂₀ clipped to the pixel range) with guidance γ (class-conditional CFG) and steps."""

from __future__ import annotations

from neon_theory.samplers import Guidance, Steps
from toy_models.diffusion import SAMPLERS

from ..family import ImageFamily, class_probs, register_image_family
from . import unet


def build(train, s: dict, network: str, seed: int):
    from toy_models.diffusion import DiffusionModel, Schedule

    # pixels live in [-1, 1]: DDIM clips x̂₀ there (without it, x̂₀ = (x − √(1−ᾱ)ε̂)/√ᾱ at ᾱ ≈ 1e-6 sends samples to ±100s)
    return DiffusionModel(unet.network(train, s, network, seed), Schedule("cosine", 1000), class_probs=class_probs(train), x0_range=(-1.0, 1.0))


complete, neutral = unet.chain("ddim")

DIFFUSION = register_image_family(ImageFamily(
    name="diffusion", samplers=SAMPLERS, spec_types=(Steps, Guidance), build=build, encode=unet.encode, decode=unet.decode,
    copies=unet.copies, complete=complete, neutral=neutral, stream=unet.stream, sweeps=unet.SWEEPS, neon=unet.NEON,
    networks=unet.NETWORKS,
))
