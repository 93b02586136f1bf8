"""neon-theory: measure the theory behind Neon exactly or with honest error bars.

The names below are imported on first use (PEP 562), so that ``import neon_theory`` (and the
CLI's ``--help``) does not pay for torch until something needs it.
"""

import importlib
import sys
import types

#: public name → the module that defines it
_EXPORTS = {
    **dict.fromkeys(("AlignmentReport", "TheoryQuantities", "alignment", "theory_quantities"), "alignment"),
    **dict.fromkeys(("AutoW", "auto_w", "line_taylor"), "autow"),
    **dict.fromkeys(("GenerativeModel", "ModelAdapter", "Target", "check_model"), "contracts"),
    **dict.fromkeys(("accumulator_dtype", "module_device", "resolve_device"), "device"),
    **dict.fromkeys(
        ("GradientEstimate", "ModelLaw", "WeightedSupport", "paired_population_gradients", "per_sample_gradients", "population_gradient", "population_hessian"),
        "gradients",
    ),
    **dict.fromkeys(
        (
            "FineTuning", "LR_SCHEDULES", "MergePolicy", "PreconditionerMismatchWarning", "brent_best_w", "brent_minimize", "displacement_w_star", "fit",
            "lr_factors", "merge", "neon_loop", "optimizer_preconditioner", "plane_state", "plane_sweep", "predicted_w_star", "self_train",
            "step_displacement", "summed_lr", "w_sweep",
        ),
        "neon",
    ),
    **dict.fromkeys(("CosineProbe", "ProbeSizes"), "probe"),
    **dict.fromkeys(("parse_sampler",), "sampler_text"),
    **dict.fromkeys(("Chain", "Guidance", "ScoreScale", "Sharpening", "Steps", "Temperature", "TopK", "TopP", "categorical_logits"), "samplers"),
}

__version__ = "0.1.0"

__all__ = sorted(_EXPORTS)


class _Package(types.ModuleType):
    """The package's module type: the function ``alignment`` keeps its name when its module is imported.

    Importing ``neon_theory.alignment`` binds the submodule to the package's attribute of that
    name; an eager ``from .alignment import alignment`` used to rebind it to the function,
    and this keeps that meaning with the lazy imports.
    """

    def __setattr__(self, name, value):
        if name == "alignment" and isinstance(value, types.ModuleType) and callable(getattr(value, "alignment", None)):
            value = value.alignment
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value  # imported once
        return value
    raise AttributeError(f"module 'neon_theory' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
