"""What the two UNet families (diffusion and flow) share: the network, a steps + guidance sampler
chain (completed, neutral and named as one), flat pixels as data rows, and their sweeps."""

from __future__ import annotations

from neon_theory.sampler_text import sampler_text
from neon_theory.samplers import Chain, Guidance, Steps

from ...common import one_of_each
from ..family import SamplerSweep

#: the networks the UNet families build: the project's TimeUNet, or a diffusers UNet2DModel
NETWORKS = ("unet", "diffusers")
SWEEPS = (
    SamplerSweep("guidance", (1.0, 3.0), (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)),  # γ = 1 on finite steps is not neutral
    SamplerSweep("steps", (2, 8), (1, 2, 3, 5, 10, 20, 50)),
)
NEON = SamplerSweep("guidance", (3.0, 0.5), (3.0, 0.5))
#: the solver ``steps=n`` parses with when none is written
UNWRITTEN_SOLVER = Steps(1).solver


def network(train, s: dict, network: str, seed: int):
    """The UNet of the diffusion and flow families on ``train``'s images (``seed``: the diffusers
    initialisation; the TimeUNet reads the global seed the cell set)."""
    from toy_models.images.unet import TimeUNet

    shape, num_classes = train.shape, train.num_classes
    if network == "diffusers":
        from toy_models.images.diffusers_unet import tiny_unet2d

        return tiny_unet2d(shape, num_classes=num_classes, channels=max(8, 8 * (s["channels"] // 8)), seed=seed)
    return TimeUNet(shape, channels=s["channels"], levels=2 if shape[1] % 2 == 0 else 1, num_classes=num_classes)


def encode(images, s: dict):
    """Images → flat pixels."""
    return images.flatten(1)


def decode(values, shape: tuple, s: dict):
    """Flat pixels → images, clamped to [−1, 1]."""
    return values.float().reshape(-1, *shape).clamp(-1, 1)


def copies(s: dict) -> int:
    """The denoising / flow-matching loss is an expectation: ``noise_draws`` (t, noise) draws an image."""
    return s["noise_draws"]


def chain(solver: str):
    """(complete, neutral) of a ``steps=n+guidance=γ`` chain solved by ``solver``."""

    def complete(spec, s: dict) -> Chain:
        """The part left out is filled in: the preset's ``sample_steps`` with ``solver``; γ = 1."""
        given = one_of_each(spec)
        steps = given.get(Steps, Steps(s["sample_steps"], solver))
        if steps.solver not in (UNWRITTEN_SOLVER, solver):  # 'steps=5' parses with the default solver: it means this family's
            raise ValueError(f"sampler {sampler_text(spec)!r}: this family solves with {solver}; got solver={steps.solver}")
        return Chain((Steps(steps.n, solver, steps.eta), given.get(Guidance, Guidance(1.0))))

    def neutral(s: dict) -> Chain:
        """FID's sampler: γ = 1 (no guidance) at the preset's steps."""
        return Chain((Steps(s["sample_steps"], solver), Guidance(1.0)))

    return complete, neutral


def stream(spec: Chain) -> str:
    """``guidance/γ``, or ``steps/n`` at γ = 1 (the names of the old ``knob``/``value`` cells, as
    :meth:`~studies.flow.cells.FlowCell.stream` keeps them)."""
    steps, guidance = spec.specs
    return f"guidance/{guidance.gamma}" if guidance.gamma != 1.0 else f"steps/{steps.n}"
