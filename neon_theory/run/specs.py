"""Sampler specs written as text, for the command line: one parser for every spec.

``name=value[,field=value…]``, several joined by ``+`` into a :class:`~neon_theory.samplers.Chain`
(applied left to right)::

    temperature=0.7                  density temperature T (p^(1/T))
    std-temperature=0.8              std temperature τ (σ → τσ)
    top-k=5 | top-p=0.9              categorical truncation
    score-scale=1.1[,where=update]   score scale ζ (inside x̂₀ by default)
    guidance=2                       classifier-free guidance γ
    steps=20[,solver=ddim][,eta=0]   solver steps
    steps=20,solver=euler+guidance=2 a chain

Values are checked by the spec dataclasses themselves, so the accepted ranges are theirs.
"""

# neon-theory: presentation-only

from __future__ import annotations

import dataclasses
import re
import typing

from .._validation import integral
from ..samplers import Chain, Guidance, SamplerSpec, ScoreScale, Steps, Temperature, TopK, TopP

#: text name → (spec type, the field the value sets, fixed fields)
SPEC_NAMES: dict[str, tuple[type, str, dict]] = {
    "temperature": (Temperature, "value", {"convention": "density"}),
    "std-temperature": (Temperature, "value", {"convention": "std"}),
    "top-k": (TopK, "k", {}),
    "top-p": (TopP, "p", {}),
    "score-scale": (ScoreScale, "zeta", {}),
    "guidance": (Guidance, "gamma", {}),
    "steps": (Steps, "n", {}),
}

EXAMPLE = "temperature=0.7, std-temperature=0.8, top-k=5, top-p=0.9, score-scale=1.1, guidance=2, steps=20,solver=ddim, or a chain joined by '+'"


def _convert(spec_type: type, field_name: str, text: str):
    """The text of a field, converted to the type its dataclass annotation names."""
    hint = str(typing.get_type_hints(spec_type).get(field_name, str))
    if "int" in hint:
        return integral(float(text))
    if "float" in hint:
        return float(text)
    return text


def parse_sampler(text: str) -> SamplerSpec:
    """A sampler spec from its text form (see the module docstring).

    Raises:
        ValueError: an unknown name, a malformed part or a value out of the spec's range; the
            message quotes the part and lists the accepted names.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"a sampler must be written like {EXAMPLE}; got {text!r}")
    # '+' joins a chain only before a name: '1e+12' stays one number
    specs = [_parse_one(part.strip(), text) for part in re.split(r"\+(?=\s*[a-z])", text)]
    return specs[0] if len(specs) == 1 else Chain(tuple(specs))


def _parse_one(part: str, whole: str) -> SamplerSpec:
    head, *options = part.split(",")
    name, _, value = head.partition("=")
    if name not in SPEC_NAMES or not value:
        raise ValueError(f"sampler part {part!r} of {whole!r} must be one of {', '.join(n + '=VALUE' for n in SPEC_NAMES)}")
    spec_type, main, fixed = SPEC_NAMES[name]
    allowed = {f.name for f in dataclasses.fields(spec_type) if f.init} - {main} - set(fixed)
    kwargs = dict(fixed)
    for option in options:
        key, _, v = option.partition("=")
        if key not in allowed or not v:
            raise ValueError(f"sampler part {part!r}: {name} takes {', '.join(sorted(k + '=VALUE' for k in allowed)) or 'no other fields'}; got {option!r}")
        kwargs[key] = v
    try:
        kwargs = {k: _convert(spec_type, k, v) if isinstance(v, str) and k not in fixed else v for k, v in kwargs.items()}
        kwargs[main] = _convert(spec_type, main, value)
    except (ValueError, OverflowError):
        raise ValueError(f"sampler part {part!r}: values must be numbers where {name} expects numbers") from None
    try:
        return spec_type(**kwargs)
    except ValueError as e:
        raise ValueError(f"sampler part {part!r}: {e}") from None
