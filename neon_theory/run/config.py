"""Configs as frozen dataclasses that round-trip through YAML/JSON, and their content hashes.

Loading uses PyYAML's safe loader only (:class:`NumberSafeLoader`, which also reads ``1e-3``
and ``5e4`` as floats, as people write them; plain YAML 1.1 reads them as strings).  Unknown
fields are rejected with a message naming the field and the accepted ones, missing required
fields are named too; nested dataclass fields are rebuilt recursively; an integer field
accepts an integral float such as ``1e5``; YAML lists become tuples (so configs stay hashable).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import types
import typing

import yaml

from ..checks import integral


class NumberSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also resolves exponent floats without a dot (``1e-3``, ``5E4``)
    and rejects a key written twice in one mapping (PyYAML would keep the last one silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: the base class reports it
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(None, None, f"the key {key!r} appears twice", key_node.start_mark)
        return super().construct_mapping(node, deep)


NumberSafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def safe_load(text: str):
    """Parse YAML with the safe loader (no object construction), exponent floats included."""
    return yaml.load(text, Loader=NumberSafeLoader)  # noqa: S506 (a SafeLoader subclass)


def config_to_dict(cfg) -> dict:
    """A plain, JSON-safe dict of a (possibly nested) dataclass config."""
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise ValueError(f"cfg must be a dataclass instance; got {type(cfg).__name__}")
    return _plain(dataclasses.asdict(cfg))


def _plain(v):
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        return v.item()
    return v


def config_from_dict(cls, data: dict):
    """Build ``cls`` from a dict, rejecting unknown fields by name."""
    if not dataclasses.is_dataclass(cls):
        raise ValueError(f"cls must be a dataclass type; got {cls!r}")
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__} config must be a mapping; got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    odd = [k for k in data if not isinstance(k, str)]
    if odd:
        raise ValueError(f"{cls.__name__} field names must be text; got {odd[0]!r} ({type(odd[0]).__name__})")
    unknown = sorted(set(data) - set(fields))
    renamed = getattr(cls, "RENAMED", {})  # a field an old sweep file may still use: say its new spelling
    for name in unknown:
        if name in renamed:
            raise ValueError(f"{cls.__name__}: the field {name!r} is gone; {renamed[name]}")
    if unknown:
        raise ValueError(f"unknown field(s) {unknown} for {cls.__name__}; accepted fields are {sorted(fields)}")
    required = [n for n, f in fields.items() if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [n for n in required if n not in data]
    if missing:
        raise ValueError(f"{cls.__name__} config is missing the required field(s) {missing}; accepted fields are {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        kind = hints.get(name)
        if dataclasses.is_dataclass(kind) and isinstance(value, dict):
            kwargs[name] = config_from_dict(kind, value)
        else:
            kwargs[name] = _integral(_tupled(value), kind)
    try:
        return cls(**kwargs)
    except TypeError as e:  # e.g. a field of the wrong kind reaching a comparison
        raise ValueError(f"invalid {cls.__name__} config: {e}") from None


def _integral(v, kind):
    """An integral float (``1e5`` in YAML) becomes an int where the field is typed ``int``."""
    ints = (
        kind is int
        or (isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union)
        and int in typing.get_args(kind)
        and float not in typing.get_args(kind)
    )
    return integral(v) if ints else v


def _tupled(v):
    """YAML lists → tuples, also inside mappings (configs stay hashable and compare equal)."""
    if isinstance(v, list):
        return tuple(_tupled(x) for x in v)
    if isinstance(v, dict):
        return {k: _tupled(x) for k, x in v.items()}
    return v


def to_yaml(cfg) -> str:
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=True)


def from_yaml(cls, text: str):
    """Parse YAML text (safe loader only) into ``cls``."""
    try:
        data = safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ValueError(f"config is not valid YAML{where}: {getattr(e, 'problem', None) or e}") from None
    if data is None:
        raise ValueError(f"the {cls.__name__} config is empty; it must be a mapping of fields")
    return config_from_dict(cls, data)


def config_hash(cfg, code_version: str = "") -> str:
    """SHA-256 of the canonical JSON of the config (and a code version), hex."""
    payload = json.dumps({"config": config_to_dict(cfg), "type": type(cfg).__name__, "code": code_version}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()
