"""Sampler specs written as text: kept under this run-layer name for old imports; the parser is the
engine's :mod:`neon_theory.sampler_text` (one syntax for the CLI, sweep files and study cells)."""

from __future__ import annotations

from ..sampler_text import SAMPLER_NAMES, example, parse_sampler, sampler_text

#: text name → (spec type, the field the value sets, fixed fields): a view of :data:`~neon_theory.sampler_text.SAMPLER_NAMES`
SPEC_NAMES = {name: (e.spec_type, e.value_field, e.fixed) for name, e in SAMPLER_NAMES.items()}
EXAMPLE = example()

__all__ = ["EXAMPLE", "SAMPLER_NAMES", "SPEC_NAMES", "parse_sampler", "sampler_text"]
