"""The ``flow`` image family: the UNet as a flow-matching velocity field, sampled by Euler with
guidance γ and steps."""

from __future__ import annotations

from neon_theory.samplers import Guidance, Steps
from toy_models.flow import SAMPLERS

from ..family import ImageFamily, class_probs, register_image_family
from . import unet


def build(train, s: dict, network: str, seed: int):
    from toy_models.flow import FlowModel

    return FlowModel(unet.network(train, s, network, seed), class_probs=class_probs(train))


complete, neutral = unet.chain("euler")

FLOW = register_image_family(ImageFamily(
    name="flow", samplers=SAMPLERS, spec_types=(Steps, Guidance), build=build, encode=unet.encode, decode=unet.decode,
    copies=unet.copies, complete=complete, neutral=neutral, stream=unet.stream, sweeps=unet.SWEEPS, neon=unet.NEON,
    networks=unet.NETWORKS,
))
