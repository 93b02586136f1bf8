"""The ``pixel-ar`` image family: the causal pixel transformer over pixels quantised to the preset's
``levels``, sampled one token at a time with temperature, top-k and top-p (and chains of them)."""

from __future__ import annotations

from neon_theory.samplers import CATEGORICAL, Temperature, TopK, TopP

from ..family import ImageFamily, SamplerSweep, class_probs, parts, register_image_family

#: the longest pixel sequence the transformer is asked to sample one token at a time
MAX_PIXEL_TOKENS = 1024
#: the record stream's name of each part, and how its value was written (k an int, T and p floats)
_STREAM = {Temperature: lambda s: f"temperature/{s.value}" if s.convention == "density" else f"std-temperature/{s.value}",
           TopK: lambda s: f"top_k/{s.k}", TopP: lambda s: f"top_p/{s.p}"}


def build(train, s: dict, network: str, seed: int):
    from toy_models.images.pixel_ar import PixelARModel, PixelTransformer

    net = PixelTransformer(train.images[0].numel(), s["levels"], width=s["width"], heads=s["heads"], depth=s["depth"], num_classes=train.num_classes)
    return PixelARModel(net, class_probs=class_probs(train))


def encode(images, s: dict):
    from toy_models.images.pixel_ar import quantise

    return quantise(images, s["levels"])


def decode(values, shape: tuple, s: dict):
    from toy_models.images.pixel_ar import dequantise

    return dequantise(values.round().long(), shape, s["levels"])


def stream(spec) -> str:
    """``temperature/T``, ``top_k/k`` or ``top_p/p`` (the old ``knob``/``value``); a chain joins its parts with '+'."""
    return "+".join(_STREAM[type(p)](p) for p in parts(spec))


PIXEL_AR = register_image_family(ImageFamily(
    name="pixel-ar", samplers=CATEGORICAL, spec_types=(Temperature, TopK, TopP), build=build, encode=encode, decode=decode,
    copies=lambda s: 1,  # the exact NLL: no loss noise
    complete=lambda spec, s: spec, neutral=lambda s: None,  # None: plain sampling, T = 1
    stream=stream,
    sweeps=(SamplerSweep("temperature", (0.7, 1.3), (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5), neutral=1.0),
            SamplerSweep("top-k", (1, 4), (1, 2, 3, 4)),
            SamplerSweep("top-p", (0.6, 1.0), (0.5, 0.7, 0.8, 0.9, 0.95, 1.0), neutral=1.0)),
    neon=SamplerSweep("temperature", (0.7, 1.3), (0.7, 1.3), neutral=1.0),
    vocab=lambda s: s["levels"], max_values=MAX_PIXEL_TOKENS,  # networks: its own (the cell's default 'unet')
))
