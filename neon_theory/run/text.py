"""Text the CLI prints: tables fitted to :data:`WIDTH` columns, wrapped lines, pipe tables, durations,
docstrings' first lines in plain words.

Nothing here computes a result; it only shapes what the commands print (so it imports no engine).
"""

from __future__ import annotations

import re
import textwrap

#: Text output is kept to this many columns.
WIDTH = 120


def wrap(text: str) -> str:
    """``text`` filled to :data:`WIDTH` columns, continuation lines indented by two spaces."""
    return textwrap.fill(text, WIDTH, subsequent_indent="  ")


def short(v) -> str:
    """``v`` as text of at most 40 characters (a long value ends in ``...``)."""
    text = str(v)
    return text if len(text) <= 40 else text[:37] + "..."


def duration(seconds: float) -> str:
    """A time in words for a person deciding whether to wait: ``about 2.5 h``, ``under 1 s``."""
    if seconds < 1:
        return "under 1 s"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"about {seconds / size:.1f} {unit}{'s' if unit == 'day' and seconds >= 2 * size else ''}"
    return f"about {seconds:.0f} s"


def markdown(table) -> str:
    """A DataFrame as a GitHub pipe table: pandas' ``to_markdown`` where tabulate (an optional
    dependency) is installed, else :func:`pipe_table`."""
    import importlib.util

    return table.to_markdown(index=False) if importlib.util.find_spec("tabulate") is not None else pipe_table(table)


def pipe_table(table) -> str:
    """A GitHub pipe table (what pandas' to_markdown writes, without needing tabulate)."""
    cells = [list(table.columns)] + table.astype(str).values.tolist()
    widths = [max(len(str(r[i])) for r in cells) for i in range(len(cells[0]))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([line(cells[0]), "| " + " | ".join("-" * w for w in widths) + " |"] + [line(r) for r in cells[1:]])


def fit_text(table, params: list) -> str:
    """The table as aligned text; a setting (the ``params`` columns) is written once, above its fields,
    when a row would exceed :data:`WIDTH`."""
    text = table.to_string(index=False)
    if max(map(len, text.splitlines())) <= WIDTH:
        return text
    blocks = []
    for key, g in table.groupby(params, sort=False) if params else [((), table)]:
        key = key if isinstance(key, tuple) else (key,)
        blocks.append(wrap(", ".join(f"{p}={v}" for p, v in zip(params, key)) or "all records"))
        blocks.append("\n".join("  " + line for line in g.drop(columns=params).to_string(index=False).splitlines()))
    return "\n".join(blocks)


def first_line(doc: str | None) -> str:
    """A docstring's first paragraph, in plain words (:func:`plain_text`)."""
    return plain_text((doc or "").strip().split("\n\n")[0])


def plain_text(doc: str) -> str:
    """reST in plain words: ``:class:`~a.b.C``` → C, ````x```` → x, runs of spaces → one."""
    doc = re.sub(r":\w+:`~?(?:[^`]*\.)?([^`.]+)`", r"\1", doc)
    return " ".join(doc.replace("``", "").split())
