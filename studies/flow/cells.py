"""Class-conditional flow matching on the two-class GMM: the P-cosine at a guidance scale γ or a number of Euler steps (``flow-cell``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from neon_theory.checks import check_choice, check_int
from neon_theory.probe import CosineProbe, Rows, Streams, blocked_adam_probe
from neon_theory.rng import child_seed, generator
from neon_theory.run.experiments import experiment
from neon_theory.sampler_text import parse_sampler, sampler_text
from neon_theory.samplers import Chain, Guidance, Steps
from toy_models.flow import SAMPLERS as FLOW_SAMPLERS

from ..common import PROBE_RESULTS, one_of_each, per_device, probe_record, results_of, sampler_field
from ..presets import PRESETS

FLOW_PRESETS = {
    "smoke": dict(n_base=2000, base_steps=600, base_lr=2e-3, base_batch=None, n_pop=4000, n_batches=8, grad_batch=500),
    "paper": dict(n_base=20000, base_steps=3000, base_lr=1e-3, base_batch=2048, n_pop=50000, n_batches=32, grad_batch=4096),
}
FLOW_PRESETS["reduced"] = FLOW_PRESETS["paper"]  # the flow cells are cheap: no reduced size


@dataclass(frozen=True)
class FlowCell:
    """The P-cosine (Adam P, CRN) of a class-conditional flow-matching MLP on the two-class
    GMM, at one sampler: a number of solver steps and a guidance scale γ (γ > 1 mode-seeking).

    Attributes:
        preset (str): ``smoke`` | ``reduced`` | ``paper`` (sizes in ``FLOW_PRESETS``; reduced = paper).
        sampler (str): in the text syntax (:mod:`neon_theory.sampler_text`), e.g. ``guidance=2`` or
            ``steps=5``; the part left out is filled in (20 Euler steps; γ = 1), and the record
            keeps the whole chain (``steps=20+guidance=2.0``).
        estimator_rep (int): in [0, inf); fresh estimator noise on the same base (see :class:`ARCell`).
    """

    preset: str = "smoke"
    sampler: str = "steps=20+guidance=2.0"
    estimator_rep: int = 0

    RENAMED = {name: "write sampler: guidance=GAMMA or steps=N (or steps=N+guidance=GAMMA)" for name in ("knob", "value", "steps")}

    def __post_init__(self):
        check_choice("preset", self.preset, PRESETS)
        spec = sampler_field(self, FLOW_SAMPLERS, allowed=(Steps, Guidance))
        parts = one_of_each(spec)
        object.__setattr__(self, "sampler", sampler_text(Chain((parts.get(Steps, Steps(20, "euler")), parts.get(Guidance, Guidance(1.0))))))
        check_int("estimator_rep", self.estimator_rep, lo=0)

    def spec(self) -> Chain:
        return parse_sampler(self.sampler)

    def stream(self) -> str:
        """The name of the synthetic draws' stream, as it was before samplers were text (so records
        at the same seeds stay the same): ``guidance/γ``, or ``steps/n`` at γ = 1."""
        steps, guidance = self.spec().specs
        return f"guidance/{guidance.gamma}" if guidance.gamma != 1.0 else f"steps/{steps.n}"


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
        return model.sample(size.n_pop, cell.spec(), streams.generator(f"flow-S/{cell.stream()}"))

    return CosineProbe(model, pop, synthetic_of, P, sizes=size, streams=streams, name="cell", rows=Rows(edges))


@experiment("flow-cell", config=FlowCell, results=results_of(*PROBE_RESULTS, "sharpening"))
def flow_cell(cfg: FlowCell, seed: int) -> dict:
    sampler = cfg.spec()
    return {"sharpening": sampler.sharpening().value, **probe_record(_flow_probe(cfg.preset, seed, cfg.estimator_rep).rows_at((cfg,))[0], sampler.is_neutral())}
