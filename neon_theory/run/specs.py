"""Sampler specs written as text: kept under this run-layer name for old imports; the parser is the
engine's :mod:`neon_theory.sampler_text` (one syntax for the CLI, sweep files and study cells)."""

from __future__ import annotations

from ..sampler_text import SAMPLER_NAMES, example, parse_sampler, sampler_text

__all__ = ["SAMPLER_NAMES", "parse_sampler", "sampler_text"]  # and SPEC_NAMES, EXAMPLE (computed: see __getattr__)


def __getattr__(name: str):
    # computed on each access, so a name registered after this module's import is in it
    if name == "SPEC_NAMES":  # text name → (spec type, the field the value sets, fixed fields)
        return {n: (e.spec_type, e.value_field, e.fixed) for n, e in SAMPLER_NAMES.items()}
    if name == "EXAMPLE":
        return example()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
