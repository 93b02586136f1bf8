"""Class-conditional flow matching on the two-class GMM: the P-cosine at a guidance scale γ or a number of Euler steps (``flow-cell``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from neon_theory._validation import check_choice, check_int, check_real
from neon_theory.probe import CosineProbe, Rows, Streams, blocked_adam_probe
from neon_theory.rng import child_seed, generator
from neon_theory.run.experiments import experiment

from ..common import PROBE_RESULTS, integral_field, per_device, probe_record, results_of
from ..presets import PRESETS

FLOW_PRESETS = {
    "smoke": dict(n_base=2000, base_steps=600, base_lr=2e-3, base_batch=None, n_pop=4000, n_batches=8, grad_batch=500),
    "paper": dict(n_base=20000, base_steps=3000, base_lr=1e-3, base_batch=2048, n_pop=50000, n_batches=32, grad_batch=4096),
}
FLOW_PRESETS["reduced"] = FLOW_PRESETS["paper"]  # the flow cells are cheap: no reduced size


@dataclass(frozen=True)
class FlowCell:
    """The P-cosine (Adam P, CRN) of a class-conditional flow-matching MLP on the two-class
    GMM, at one guidance scale γ or one number of Euler steps.

    Attributes:
        preset (str): ``smoke`` | ``reduced`` | ``paper`` (sizes in ``FLOW_PRESETS``; reduced = paper).
        knob (str): ``guidance`` (γ > 1 mode-seeking; ``steps`` fixed) or ``steps`` (Euler steps; γ = 1).
        value (float): γ in [0, inf) or a number of steps in [1, inf).
        steps (int): Euler steps when the knob is ``guidance``.
        estimator_rep (int): in [0, inf); fresh estimator noise on the same base (see :class:`ARCell`).
    """

    preset: str = "smoke"
    knob: str = "guidance"
    value: float = 2.0
    steps: int = 20
    estimator_rep: int = 0

    def __post_init__(self):
        check_choice("preset", self.preset, PRESETS)
        check_choice("knob", self.knob, ("guidance", "steps"))
        if self.knob == "guidance":
            check_real("value", self.value, 0.0, math.inf)
        else:
            integral_field(self, "value")
            check_int("value", self.value, lo=1)
        check_int("steps", self.steps, lo=1)
        check_int("estimator_rep", self.estimator_rep, lo=0)

    def sampler(self):
        from neon_theory.samplers import Chain, Guidance, Steps

        if self.knob == "guidance":
            return Chain((Steps(self.steps, "euler"), Guidance(self.value)))
        return Chain((Steps(int(self.value), "euler"), Guidance(1.0)))


@per_device(16)
def _flow_probe(preset: str, seed: int, rep: int):
    from types import SimpleNamespace

    from neon_theory.neon import fit
    from toy_models._conditional import TimeMLP
    from toy_models.flow import FlowModel
    from toy_models.gmm import two_class

    size = SimpleNamespace(**FLOW_PRESETS[preset])
    target = two_class()

    def labelled(n, name):
        x, y = target.sample_with_labels(n, generator(seed, name))
        return torch.cat([x, y[:, None].to(x.dtype)], -1).float()

    torch.manual_seed(child_seed(seed, "flow-init"))
    model = FlowModel(TimeMLP(2, hidden=64, depth=3, num_classes=2))
    fit(model, labelled(size.n_base, "flow-real"), steps=size.base_steps, lr=size.base_lr, batch_size=size.base_batch, generator=generator(seed, "flow-base"))
    streams = Streams(seed, rep)
    pop = labelled(size.n_pop, streams.name("flow-pop"))
    P, edges = blocked_adam_probe(model, pop, size, streams, prefix="flow-")

    def synthetic_of(cell: FlowCell):
        return model.sample(size.n_pop, cell.sampler(), streams.generator(f"flow-S/{cell.knob}/{cell.value}"))

    return CosineProbe(model, pop, synthetic_of, P, sizes=size, streams=streams, name="cell", rows=Rows(edges))


@experiment("flow-cell", config=FlowCell, results=results_of(*PROBE_RESULTS, "sharpening"))
def flow_cell(cfg: FlowCell, seed: int) -> dict:
    sampler = cfg.sampler()
    return {"sharpening": sampler.sharpening().value, **probe_record(_flow_probe(cfg.preset, seed, cfg.estimator_rep).rows_at((cfg,))[0], sampler.is_neutral())}
