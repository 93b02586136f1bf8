"""Image experiments registered with the sweep engine: s and the P-cosine vs sampler sharpness on real images.

``image-cell`` trains a base model of one family (UNet diffusion, UNet flow matching, or
the pixel transformer) on the training split of a bundled image set, then measures s, the
P-cosine (P = I) and their jackknife errors with r_d on the held-out split and r_s on
samples drawn with the sharpened sampler, with common loss noise.  The base model is
memoised per process by (device, family, data set, preset, seed), as the toys' are.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from neon_theory._validation import check_choice, check_int, check_real
from neon_theory.rng import child_seed, generator
from neon_theory.run.experiments import experiment

from . import official
from .experiments import _clean, _integral, _per_device

FAMILIES = ("diffusion", "flow", "pixel-ar")
#: which sampler knobs each family has (the value is γ, a step count, a temperature, k or p)
KNOBS = {"diffusion": ("guidance", "steps"), "flow": ("guidance", "steps"), "pixel-ar": ("temperature", "top_k", "top_p")}
IMAGE_PRESETS = {
    "smoke": dict(channels=8, width=16, base_steps=60, lr=3e-3, batch=128, n_pop=256, n_batches=8, levels=4, sample_steps=5),
    "paper": dict(channels=32, width=64, base_steps=4000, lr=1e-3, batch=256, n_pop=4096, n_batches=32, levels=8, sample_steps=50),
}
IMAGE_PRESETS["reduced"] = IMAGE_PRESETS["paper"]


@dataclass(frozen=True)
class ImageCell:
    """One (family, sampler setting, seed) on digits.

    Attributes:
        family (str): ``diffusion`` | ``flow`` | ``pixel-ar``.
        knob (str): ``guidance`` or ``steps`` (diffusion, flow: DDIM / Euler); ``temperature``,
            ``top_k`` or ``top_p`` (pixel-ar).
        value (float): γ in [0, inf), steps in [1, inf), T in (0, inf), k in [1, levels], p in (0, 1].
        size (int): digit size, 8 or 16.
        preset (str): ``smoke`` | ``reduced`` | ``paper`` (sizes in ``IMAGE_PRESETS``).
    """

    family: str = "diffusion"
    knob: str = "guidance"
    value: float = 2.0
    size: int = 8
    preset: str = "smoke"

    def __post_init__(self):
        check_choice("family", self.family, FAMILIES)
        check_choice("knob", self.knob, KNOBS[self.family])
        check_choice("size", self.size, (8, 16))
        check_choice("preset", self.preset, official.PRESETS)
        if self.knob in ("steps", "top_k"):
            _integral(self, "value")  # a count: 5.0 or 5e0 is 5
            check_int(self.knob, self.value, lo=1)
        elif self.knob == "top_p":
            check_real("top_p", self.value, 0.0, 1.0, lo_open=True)
        elif self.knob == "temperature":
            check_real("temperature", self.value, 0.0, math.inf, lo_open=True)
        else:
            check_real("guidance", self.value, 0.0, math.inf)

    def sampler(self):
        from neon_theory.samplers import Chain, Guidance, Steps, Temperature, TopK, TopP

        size = IMAGE_PRESETS[self.preset]
        if self.family == "pixel-ar":
            return {"temperature": Temperature, "top_k": TopK, "top_p": TopP}[self.knob](self.value)
        solver = "ddim" if self.family == "diffusion" else "euler"
        if self.knob == "steps":
            return Chain((Steps(int(self.value), solver), Guidance(1.0)))
        return Chain((Steps(size["sample_steps"], solver), Guidance(self.value)))


def _rows(data, family: str, levels: int) -> torch.Tensor:
    """An image split as the family's data rows: flat pixels or tokens, then the label column."""
    from ..images.pixel_ar import quantise

    values = quantise(data.images, levels) if family == "pixel-ar" else data.images.flatten(1)
    return torch.cat([values.to(torch.float32), data.labels[:, None].to(torch.float32)], 1)


@_per_device(8)
def _image_base(family: str, size: int, preset: str, seed: int):
    from neon_theory.neon import fit

    from ..diffusion import DiffusionModel, Schedule
    from ..flow import FlowModel
    from ..images.data import digits
    from ..images.pixel_ar import PixelARModel, PixelTransformer
    from ..images.unet import TimeUNet

    s = IMAGE_PRESETS[preset]
    torch.manual_seed(child_seed(seed, f"image-init/{family}"))
    if family == "pixel-ar":
        model = PixelARModel(PixelTransformer(size * size, s["levels"], width=s["width"], heads=4, depth=2, num_classes=10))
    else:
        net = TimeUNet((1, size, size), channels=s["channels"], levels=2, num_classes=10)
        model = DiffusionModel(net, Schedule("cosine", 1000)) if family == "diffusion" else FlowModel(net)
    fit(model, _rows(digits("train", size), family, s["levels"]), steps=s["base_steps"], lr=s["lr"], batch_size=s["batch"],
        generator=generator(seed, f"image-base/{family}"))
    return model


@functools.lru_cache(maxsize=8)
def _held_out(family: str, size: int, preset: str) -> torch.Tensor:
    from ..images.data import digits

    s = IMAGE_PRESETS[preset]
    return _rows(digits("test", size), family, s["levels"])[: s["n_pop"]]


@experiment("image-cell", config=ImageCell)
def image_cell(cfg: ImageCell, seed: int) -> dict:
    from neon_theory.alignment import alignment
    from neon_theory.gradients import ModelLaw, paired_population_gradients
    from neon_theory.preconditioners import identity

    s, sampler = IMAGE_PRESETS[cfg.preset], cfg.sampler()
    model = _image_base(cfg.family, cfg.size, cfg.preset, seed)
    real = _held_out(cfg.family, cfg.size, cfg.preset).to(torch.get_default_device())
    est = paired_population_gradients(
        model, {"real": real, "synthetic": ModelLaw(model, sampler)}, real.shape[0],
        generator=generator(seed, f"image-S/{cfg.knob}/{cfg.value}"), noise_generator=generator(seed, "image-noise"),
        n_batches=s["n_batches"], chunk_size=s["batch"],
    )
    rep = alignment(est["real"], est["synthetic"], identity())
    held_out_loss = float(model.per_example_loss(real, model.draw_noise(real.shape[0], generator(seed, "image-eval"))).mean().detach())
    return _clean({
        "sharpening": sampler.sharpening().value, "s": rep.s, "s_se": rep.s_se, "cosine": rep.cosine, "cosine_se": rep.cosine_se,
        "degenerate": bool(rep.degenerate), "held_out_loss": held_out_loss,
    })
