"""The contract of an image family, and the registry ``image-cell`` and the image figures read.

An image family is one :class:`ImageFamily` value: how to build its model, how images become
its data rows and back, how many loss-noise draws an image carries, which samplers it takes
and how a sampler is completed and named, and what the figures sweep.  Every hook receives
the preset's sizes ``s`` (a row of :data:`~studies.images.cells.IMAGE_PRESETS`), so a family
reads the sizes it needs and ignores the rest.  The cell and the figures never branch on a
family's name: adding a family is one module that calls :func:`register_image_family`
(the built-in ones are in :mod:`studies.images.families`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable

import torch

from neon_theory.run.experiments import register_code
from neon_theory.samplers import Chain, SamplerImplementations, SamplerSpec


@dataclass(frozen=True)
class SamplerSweep:
    """One sampler the figures sweep for a family: ``name=v`` for v in the grid of the preset.

    Attributes:
        name (str): the sampler's name in the text syntax (``guidance``, ``top-k``).
        smoke (tuple): the values at the ``smoke`` preset.
        full (tuple): the values at ``reduced`` and ``paper``.
        neutral (float | None): the value at which the family's whole sampler is neutral (the
            figure leaves it out and draws a line there); ``None`` where no value is (γ = 1 on a
            finite number of steps is not neutral).
    """

    name: str
    smoke: tuple
    full: tuple
    neutral: float | None = None


@dataclass(frozen=True)
class ImageFamily:
    """An image family, as ``image-cell`` and the image figures use it.

    Attributes:
        name (str): the cell's ``family`` value.
        samplers (SamplerImplementations): the model's sampler registry (which spec types its
            ``sample`` implements); the cell checks a sampler against it once.
        spec_types (tuple): the spec types the cell accepts (a subset of what ``samplers``
            implements: the ones whose record stream :attr:`stream` can name).
        build (callable): ``build(train, s, network, seed) -> model``: the untrained model on the
            training split ``train`` (an :class:`~toy_models.images.data.ImageData`); ``seed``
            names the initialisation (the global torch seed is set to it already).
        encode (callable): ``encode(images, s) -> values``: images (n, C, H, W) in [−1, 1] → the
            model's data values (n, D) (flat pixels, or tokens); the cell appends the label column.
        decode (callable): ``decode(values, shape, s) -> images``: the inverse, into [−1, 1].
        copies (callable): ``copies(s) -> int``: loss-noise draws per image (1 for an exact loss).
        complete (callable): ``complete(spec, s) -> spec``: the whole sampler a cell's text stands
            for (a diffusion chain gets the preset's steps and γ = 1 filled in); the record keeps it,
            and the cell is rebuilt from it, so it must be of ``spec_types`` and complete to itself.
        neutral (callable): ``neutral(s) -> spec | None``: the sampler FID is measured with.
        stream (callable): ``stream(spec) -> str``: the name of the random streams of the synthetic
            draws at a completed sampler (as it was when the cell had ``knob`` and ``value``, so
            records at the same seeds stay the same).
        sweeps (tuple): the :class:`SamplerSweep` values of ``images-cosine``.
        neon (SamplerSweep): the mode- and diversity-seeking settings of ``images-neon``
            (``smoke`` = ``full``: the two values).
        vocab (callable): ``vocab(s) -> int | None``: the categorical vocabulary (top-k is checked
            against it, sharpening reads it, and FID's reference is quantised to it); ``None``
            for a pixel-space family.
        networks (tuple): the cell's ``network`` values the family builds; ``unet``, the default,
            stands for the project's own network of the family (the pixel transformer's is not a UNet).
        max_values (int | None): the longest image (in data values) the family samples; ``None``
            for any (the pixel transformer samples one token at a time).
    """

    name: str
    samplers: SamplerImplementations
    spec_types: tuple
    build: Callable
    encode: Callable
    decode: Callable
    copies: Callable
    complete: Callable
    neutral: Callable
    stream: Callable
    sweeps: tuple
    neon: SamplerSweep
    vocab: Callable = field(default=lambda s: None)  # pixel space: no vocabulary
    networks: tuple = ("unet",)
    max_values: int | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"an image family's name must be a non-empty string; got {self.name!r}")
        if not isinstance(self.samplers, SamplerImplementations):
            raise ValueError(f"image family {self.name!r}: samplers must be a SamplerImplementations registry")
        hooks = ("build", "encode", "decode", "copies", "complete", "neutral", "stream", "vocab")
        bad = [h for h in hooks if not callable(getattr(self, h))]
        if bad:
            raise ValueError(f"image family {self.name!r}: {', '.join(bad)} must be callable")
        if not all(isinstance(s, SamplerSweep) for s in (*self.sweeps, self.neon)):
            raise ValueError(f"image family {self.name!r}: sweeps and neon must be SamplerSweep values")


#: family name → :class:`ImageFamily`, in registration order
IMAGE_FAMILIES: dict[str, ImageFamily] = {}


def register_image_family(family: ImageFamily) -> ImageFamily:
    """Add ``family`` to :data:`IMAGE_FAMILIES` (registering the same value again is a no-op).

    Raises:
        ValueError: another family of that name is registered.
    """
    old = IMAGE_FAMILIES.get(family.name)
    if old is not None and old != family:
        raise ValueError(f"image family {family.name!r} is already registered")
    IMAGE_FAMILIES[family.name] = family
    for f in dataclasses.fields(family):  # the adapter's code computes records though image-cell does not import it
        value = getattr(family, f.name)
        if callable(value) and getattr(value, "__module__", None):
            register_code(value.__module__)
    return family


def parts(spec: SamplerSpec) -> tuple:
    """The parts of a sampler (a chain's specs, or the spec itself)."""
    return spec.specs if isinstance(spec, Chain) else (spec,)


def class_probs(train) -> torch.Tensor:
    """The training split's class frequencies: samples carry labels drawn from them (uniform labels
    would tilt r_s and FID where the classes are unbalanced, as the photo patches are)."""
    return torch.bincount(train.labels, minlength=train.num_classes).double() / len(train)
