"""Sampler specs written as text: the one syntax of the command line, sweep files and study cells.

``name=value[,field=value…]``, several joined by ``+`` into a :class:`~neon_theory.samplers.Chain`
(applied left to right)::

    temperature=0.7                  density temperature T (p^(1/T))
    std-temperature=0.8              std temperature τ (σ → τσ)
    top-k=5 | top-p=0.9              categorical truncation
    score-scale=1.1[,where=update]   score scale ζ (inside x̂₀ by default)
    guidance=2                       classifier-free guidance γ
    steps=20[,solver=ddim][,eta=0]   solver steps
    steps=20,solver=euler+guidance=2 a chain

Values are checked by the spec dataclasses themselves, so the accepted ranges are theirs, and
parsing is the only validation a cell needs.  :func:`sampler_text` writes a spec back in this
syntax (``parse_sampler(sampler_text(s)) == s``), and :func:`sampler_columns` gives the numbers
a table of records shows for a sampler, one column per named part (``tau``, ``top_k``, ...).

Adding a sampler: its spec class (:mod:`neon_theory.samplers`), one :func:`register_sampler_name`
call, and one function per family that implements it (:class:`~neon_theory.samplers.SamplerImplementations`).
"""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass, field

from .checks import integral
from .samplers import Chain, Guidance, SamplerSpec, ScoreScale, Steps, Temperature, TopK, TopP


@dataclass(frozen=True)
class SamplerName:
    """One name of the text syntax.

    Attributes:
        name (str): the text name (``top-k``).
        spec_type (type): the :class:`~neon_theory.samplers.SamplerSpec` it builds.
        value_field (str): the field that ``name=VALUE`` sets (``k``).
        fixed (dict): fields the name fixes (``std-temperature`` fixes ``convention="std"``).
        column (str): the column of a records table that shows the value (``top_k``).
        label (str): the axis label of that column.
    """

    name: str
    spec_type: type
    value_field: str
    fixed: dict = field(default_factory=dict)
    column: str = ""
    label: str = ""

    def __post_init__(self):
        if not re.fullmatch(r"[a-z][a-z0-9-]*", self.name or ""):
            raise ValueError(f"a sampler name must be lower-case letters, digits and '-'; got {self.name!r}")
        if not (isinstance(self.spec_type, type) and issubclass(self.spec_type, SamplerSpec)) or self.spec_type is Chain:
            raise ValueError(f"spec_type must be a SamplerSpec class other than Chain; got {self.spec_type!r}")
        names = {f.name for f in dataclasses.fields(self.spec_type)}
        if self.value_field not in names or not set(self.fixed) <= names:
            raise ValueError(f"{self.spec_type.__name__} has no field {self.value_field!r} or {sorted(set(self.fixed) - names)}")
        object.__setattr__(self, "column", self.column or self.name.replace("-", "_"))

    def matches(self, spec: SamplerSpec) -> bool:
        """True when ``spec`` is what this name builds (its type, and its fixed fields)."""
        return type(spec) is self.spec_type and all(getattr(spec, k) == v for k, v in self.fixed.items())


#: the columns a records table already has (a sampler's column must not shadow them)
RESERVED_COLUMNS = ("seed", "status", "error", "sampler")
#: text name → :class:`SamplerName`, in registration order
SAMPLER_NAMES: dict[str, SamplerName] = {}


def register_sampler_name(name: str, spec_type: type, value_field: str, *, fixed: dict | None = None, column: str = "", label: str = "") -> SamplerName:
    """Add ``name=VALUE`` to the syntax (a user's package may add its own spec); returns the entry.

    Raises:
        ValueError: the name is taken by another spec, or the entry is malformed.
    """
    entry = SamplerName(name, spec_type, value_field, dict(fixed or {}), column, label)
    old = SAMPLER_NAMES.get(name)
    if old is not None and old != entry:
        raise ValueError(f"sampler name {name!r} is already registered for {old.spec_type.__name__}")
    if entry.column in RESERVED_COLUMNS or any(e.column == entry.column and e.name != name for e in SAMPLER_NAMES.values()):
        raise ValueError(f"column {entry.column!r} of sampler name {name!r} is taken (by a records table or another sampler name); choose another column")
    SAMPLER_NAMES[name] = entry
    return entry


register_sampler_name("temperature", Temperature, "value", fixed={"convention": "density"}, column="T", label="T (density temperature)")
register_sampler_name("std-temperature", Temperature, "value", fixed={"convention": "std"}, column="tau", label="τ (std temperature)")
register_sampler_name("top-k", TopK, "k", label="k (top-k)")
register_sampler_name("top-p", TopP, "p", label="p (top-p)")
register_sampler_name("score-scale", ScoreScale, "zeta", column="zeta", label="ζ (score scale)")
register_sampler_name("guidance", Guidance, "gamma", label="γ (guidance)")
register_sampler_name("steps", Steps, "n", label="sampler steps")


def example() -> str:
    """The syntax by example, for error messages."""
    return ", ".join(f"{n}=VALUE" for n in SAMPLER_NAMES) + ", or a chain joined by '+' (e.g. steps=20,solver=euler+guidance=2)"


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
    if isinstance(text, SamplerSpec):
        return text
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"a sampler must be written like {example()}; got {text!r}")
    # '+' joins a chain only before a name: '1e+12' stays one number
    specs = [_parse_one(part.strip(), text) for part in re.split(r"\+(?=\s*[a-z])", text)]
    return specs[0] if len(specs) == 1 else Chain(tuple(specs))


def _parse_one(part: str, whole: str) -> SamplerSpec:
    head, *options = part.split(",")
    name, _, value = head.partition("=")
    if name not in SAMPLER_NAMES or not value:
        fields = {f.name for e in SAMPLER_NAMES.values() for f in dataclasses.fields(e.spec_type)} - set(SAMPLER_NAMES)
        hint = (f" ('{name}=' is a field of a part: a comma inside a YAML [ ] list splits the sampler there; quote the sampler)"
                if name in fields else "")
        raise ValueError(f"sampler part {part!r} of {whole!r} must be one of {', '.join(n + '=VALUE' for n in SAMPLER_NAMES)}{hint}")
    entry = SAMPLER_NAMES[name]
    allowed = {f.name for f in dataclasses.fields(entry.spec_type) if f.init} - {entry.value_field} - set(entry.fixed)
    kwargs = dict(entry.fixed)
    for option in options:
        key, _, v = option.partition("=")
        if key not in allowed or not v:
            raise ValueError(f"sampler part {part!r}: {name} takes {', '.join(sorted(k + '=VALUE' for k in allowed)) or 'no other fields'}; got {option!r}")
        kwargs[key] = v
    try:
        kwargs = {k: _convert(entry.spec_type, k, v) if isinstance(v, str) and k not in entry.fixed else v for k, v in kwargs.items()}
        kwargs[entry.value_field] = _convert(entry.spec_type, entry.value_field, value)
    except (ValueError, OverflowError):
        raise ValueError(f"sampler part {part!r}: values must be numbers where {name} expects numbers") from None
    try:
        return entry.spec_type(**kwargs)
    except ValueError as e:
        raise ValueError(f"sampler part {part!r}: {e}") from None


def _name_of(spec: SamplerSpec) -> SamplerName:
    for entry in SAMPLER_NAMES.values():
        if entry.matches(spec):
            return entry
    raise ValueError(f"{type(spec).__name__} has no name in the text syntax (register_sampler_name)")


def _text_value(v) -> str:
    return repr(float(v)) if isinstance(v, float) else str(v)


def sampler_text(spec: SamplerSpec) -> str:
    """``spec`` in the text syntax, every non-default field written (``parse_sampler`` inverts it exactly)."""
    parts = []
    for s in spec.specs if isinstance(spec, Chain) else (spec,):
        entry = _name_of(s)
        if getattr(s, entry.value_field) is None:
            raise ValueError(f"{s!r} has no text form (its {entry.value_field} is None: the exact law); leave that part out of the sampler")
        options = [
            f"{f.name}={_text_value(getattr(s, f.name))}"
            for f in dataclasses.fields(s)
            if f.init and f.name != entry.value_field and f.name not in entry.fixed and getattr(s, f.name) != f.default
        ]
        parts.append(",".join([f"{entry.name}={_text_value(getattr(s, entry.value_field))}", *options]))
    return "+".join(parts)


def sampler_columns(spec: SamplerSpec | str) -> dict[str, float]:
    """The numbers a records table shows for a sampler: one column per named part (``{"tau": 0.5}``;
    a chain ``steps=20+guidance=2`` gives ``{"steps": 20, "guidance": 2.0}``; a part repeated keeps the last)."""
    spec = parse_sampler(spec)
    out = {}
    for s in spec.specs if isinstance(spec, Chain) else (spec,):
        entry = _name_of(s)
        out[entry.column] = getattr(s, entry.value_field)
    return out


def column_labels() -> dict[str, str]:
    """Column → axis label, for every registered name that has a label."""
    return {e.column: e.label for e in SAMPLER_NAMES.values() if e.label}
