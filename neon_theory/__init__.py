"""neon-theory: measure the theory behind Neon exactly or with honest error bars."""

from .alignment import AlignmentReport, TheoryQuantities, alignment, theory_quantities
from .contracts import GenerativeModel, ModelAdapter, Target
from .device import accumulator_dtype, module_device, resolve_device
from .gradients import (
    GradientEstimate,
    ModelLaw,
    WeightedSupport,
    paired_population_gradients,
    per_sample_gradients,
    population_gradient,
    population_hessian,
)
from .neon import MergePolicy, brent_best_w, fit, merge, neon_loop, plane_state, plane_sweep, predicted_w_star, self_train, w_sweep
from .samplers import Chain, Guidance, ScoreScale, Sharpening, Steps, Temperature, TopK, TopP

__version__ = "0.1.0"

__all__ = [
    "AlignmentReport",
    "Chain",
    "GenerativeModel",
    "GradientEstimate",
    "Guidance",
    "MergePolicy",
    "ModelAdapter",
    "ModelLaw",
    "ScoreScale",
    "Sharpening",
    "Steps",
    "Target",
    "Temperature",
    "TheoryQuantities",
    "TopK",
    "TopP",
    "WeightedSupport",
    "accumulator_dtype",
    "alignment",
    "brent_best_w",
    "fit",
    "merge",
    "module_device",
    "neon_loop",
    "paired_population_gradients",
    "per_sample_gradients",
    "plane_state",
    "plane_sweep",
    "population_gradient",
    "population_hessian",
    "predicted_w_star",
    "resolve_device",
    "self_train",
    "theory_quantities",
    "w_sweep",
]
