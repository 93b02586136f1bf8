"""The scorecard: every registered claim judged at one preset, written as ``SCORECARD.md`` and ``scorecard.json``.

:func:`plan_scorecard` validates every claim's sweeps before any runs; :func:`run_scorecard`
runs them through the one result store (cached records are read, not recomputed), calls each
claim's judge, derives the verdict with :func:`~neon_theory.run.claims.verdict` and writes the
report, and where a claim names a figure of the catalogue, draws it from the same store.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

from . import plugins
from .claims import CLAIMS, VERDICTS, Claim, Evidence, Judgement, verdict
from .executors import Executor
from .store import ResultStore
from .sweeps import SweepFailed, failure_summary, run_sweep


def claims_of(only: tuple | None = None) -> list[Claim]:
    """The registered claims (the installed packages' first), in the report's order; ``only``
    names some of them (a ValueError names an unknown one)."""
    plugins.load("neon_theory.claims")
    if only:
        unknown = [n for n in only if n not in CLAIMS]
        if unknown:
            raise ValueError(f"claim must be one of {sorted(CLAIMS)}; got {unknown[0]!r}")
    chosen = [c for c in CLAIMS.values() if not only or c.name in only]
    return sorted(chosen, key=lambda c: (c.order, c.name))


def plan_scorecard(preset: str, *, only: tuple | None = None, seeds: tuple | None = None, device=None) -> dict:
    """claim name → {label → :class:`~neon_theory.run.plan.Plan`}: every sweep of every chosen claim
    at ``preset`` (``seeds`` replaces each sweep's own), validated and its device resolved."""
    from ..checks import check_choice
    from .figures import PRESETS

    plugins.load("neon_theory.figures")  # the presets
    check_choice("preset", preset, tuple(PRESETS))
    if isinstance(device, str):
        from ..device import resolve_device

        device = resolve_device(device)
    plans = {}
    for claim in claims_of(only):
        specs = {label: build(preset) for label, build in claim.sweeps.items()}
        if seeds is not None:
            specs = {label: dataclasses.replace(spec, seeds=tuple(seeds)) for label, spec in specs.items()}
        plans[claim.name] = {label: spec.plan(device) for label, spec in specs.items()}
    return plans


def _judgement(j: Judgement | None) -> dict | None:
    return None if j is None else dataclasses.asdict(j) | {"text": j.text()}


def scorecard_row(claim: Claim, evidence: Evidence, frames: dict) -> dict:
    """One row of the report: the claim's contract, its verdict and the evidence, JSON-safe."""
    seeds = sorted({int(s) for f in frames.values() for s in f.seed.unique()}) if frames else list(evidence.seeds)
    return {
        "claim": claim.name, "source": claim.source, "statement": claim.statement, "verdict": verdict(evidence),
        "rule": claim.rule, "control": claim.control, "calibration_rule": claim.calibration,
        "effect": _judgement(evidence.test), "control_result": _judgement(evidence.control),
        "condition": evidence.condition, "conditional": _judgement(evidence.conditional), "calibration": _judgement(evidence.calibration),
        "n_seeds": len(evidence.seeds) or len(seeds), "seeds": list(evidence.seeds) or seeds, "notes": evidence.notes,
        "figure": claim.figure, "test": claim.test,
        "sweeps": {label: {"experiment": f.attrs.get("experiment", ""), "jobs": len(f)} for label, f in frames.items()},
    }


def run_scorecard(
    preset: str = "smoke",
    *,
    store: ResultStore | str | Path = "results/store",
    out: str | Path = "results/scorecard",
    executor: Executor | None = None,
    only: tuple | None = None,
    seeds: tuple | None = None,
    device=None,
    figures: bool = True,
    progress: bool = False,
    merge: bool = False,
) -> dict:
    """Judge every chosen claim at ``preset`` and write ``<out>/SCORECARD.md`` and ``<out>/scorecard.json``.

    With ``merge``, the report already in ``out`` (at the same preset) is updated instead of replaced:
    the claims judged now replace their rows, the other registered claims keep theirs, and every row
    names the commit it was judged at (``judged_at``), so a report may combine runs of several
    sessions without hiding which code judged what.

    Returns:
        dict: ``rows`` (one per claim, :func:`scorecard_row`), ``paths`` (the files written) and
        ``counts`` (verdict → number of claims).

    Raises:
        SweepFailed: some job failed; the finished records stay cached, so a re-run retries only those.
    """
    from .provenance import provenance

    plans = plan_scorecard(preset, only=only, seeds=seeds, device=device)  # every sweep checked before any work
    out = Path(out)
    kept, dropped = previous_rows(out / "scorecard.json", preset) if merge else ({}, [])  # read (and checked) before any work
    store = store if isinstance(store, ResultStore) else ResultStore(store)
    out.mkdir(parents=True, exist_ok=True)
    judged_at = _judged_at(provenance(str(device or "cpu")))
    rows, paths = [], []
    for claim in claims_of(only):
        frames = {}
        for label, plan in plans[claim.name].items():
            frame = run_sweep(plan, store, executor=executor, progress=progress)
            problem = failure_summary(frame)
            if problem is not None:
                raise SweepFailed(f"claim {claim.name!r}, sweep {label!r}: {problem}")
            frame.attrs["experiment"] = plan.spec.experiment
            frames[label] = frame
        evidence = claim.judge(frames)
        if not isinstance(evidence, Evidence):
            raise TypeError(f"claim {claim.name!r}: its judge returned {type(evidence).__name__}, not Evidence")
        row = scorecard_row(claim, evidence, frames)
        if figures and claim.figure:
            from .figures import make_figure

            drawn = make_figure(claim.figure, preset, store=store, out=out / "figures", executor=executor, seeds=tuple(row["seeds"]) or None,
                                device=device, progress=progress)
            row["figure_paths"] = [str(p) for p in drawn["paths"]]
        rows.append(row | {"judged_at": judged_at})
    if kept:
        now = {r["claim"]: r for r in rows}
        rows = [now.get(c.name) or kept[c.name] for c in claims_of() if c.name in now or c.name in kept]
    meta = {"preset": preset, "seeds": None if seeds is None else list(seeds), "provenance": provenance(str(device or "cpu")),
            "judged": len(rows), "registered": len(claims_of()), "left_out": sorted(set(c.name for c in claims_of()) - {r["claim"] for r in rows}),
            "judged_at": sorted({r["judged_at"] for r in rows})}
    if merge:
        meta["merged"] = {"kept": sorted(set(kept) - {c.name for c in claims_of(only)}), "dropped": dropped}
    counts = {v: sum(r["verdict"] == v for r in rows) for v in VERDICTS}
    report = _finite({"meta": meta, "counts": counts, "rows": rows})
    paths.append(_write(out / "scorecard.json", json.dumps(report, indent=1, default=_json_default, allow_nan=False)))
    paths.append(_write(out / "SCORECARD.md", render_markdown(rows, meta, counts)))
    return {"rows": rows, "paths": paths, "counts": counts}


def _judged_at(prov: dict) -> str:
    """The commit a row was judged at, as the report prints it."""
    git = prov.get("git") or {}
    return git.get("sha", "unknown")[:12] + (" (with uncommitted changes)" if git.get("dirty") else "")


#: what a kept row must carry for the report to be written (the keys :func:`scorecard_row` gives it)
_ROW_KEYS = ("claim", "source", "statement", "verdict", "rule", "control", "effect", "control_result", "condition", "n_seeds", "seeds", "notes",
             "figure", "test")


def _report_parts(path: Path) -> tuple[list, dict]:
    """The rows and meta of the report at ``path``, checked for the shape the merge reads (a ValueError otherwise)."""
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        rows, meta = report["rows"], report["meta"]
        ok = isinstance(rows, list) and isinstance(meta, dict) and isinstance(meta.get("preset"), str) and isinstance(meta.get("provenance", {}), dict)
        ok = ok and all(isinstance(r, dict) and isinstance(r.get("claim"), str) and all(k in r for k in _ROW_KEYS) for r in rows)
        ok = ok and all(isinstance(r.get(k), dict) and "text" in r[k] and "what" in r[k] and "outcome" in r[k] for r in rows
                        for k in ("effect", "control_result"))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, OSError):
        ok = False
    if not ok:
        raise ValueError(f"merge: {path} is not a scorecard report (unreadable, or its rows lack the report's fields); "
                         "remove it or write to another --out")
    return rows, meta


def previous_rows(path: Path, preset: str) -> tuple[dict, list]:
    """What a merge keeps of the report at ``path``: (claim → row of each claim still registered, the sorted names
    of its claims no longer registered); a missing report keeps nothing.  A report at another preset, or one that
    is not a scorecard, is refused (a ValueError)."""
    if not path.is_file():
        return {}, []
    rows, meta = _report_parts(path)
    if meta["preset"] != preset:
        raise ValueError(f"merge: the report in {path.parent} is at preset {meta['preset']!r}, not {preset!r}; merge only reports of one preset")
    registered = {c.name for c in claims_of()}
    first = _judged_at(meta.get("provenance") or {})  # a report written before rows named their commit
    kept = {r["claim"]: {"judged_at": first} | r for r in rows if r["claim"] in registered}
    return kept, sorted(r["claim"] for r in rows if r["claim"] not in registered)


def _finite(o):
    """``o`` with every non-finite float replaced by None (JSON has no NaN), numpy scalars made plain."""
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    if hasattr(o, "item") and not isinstance(o, (str, bytes)):  # numpy scalars
        o = o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


def _json_default(o):
    return str(o)


def _write(path: Path, text: str) -> Path:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def _short(text: str, limit: int = 200) -> str:
    """The table's copy of a long text (the claim's section has it in full)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "… (below)"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def render_markdown(rows: list, meta: dict, counts: dict) -> str:
    """The report: a verdict table, then each claim's contract and evidence in full."""
    prov = meta["provenance"]
    git = prov.get("git") or {}
    commit = git.get("sha", "unknown") + (" with uncommitted changes" if git.get("dirty") else "")
    commits = meta.get("judged_at") or []
    judged = (f"rows judged at {len(commits)} commits ({', '.join(commits)}; each row's section names its own), written at commit {commit}"
              if len(commits) > 1 else f"code {prov.get('code_version', '')}, commit {commit}")
    lines = [
        "# Scorecard: the paper's claims, judged",
        "",
        f"Preset `{meta['preset']}`; {judged}. "
        "Each claim's pass rule and negative control are fixed in its study's `claims.py` before the run; "
        "the verdict follows one fixed logic (`neon_theory.run.claims.verdict`): a control that passes, or a calibration that does not, "
        "makes a claim inconclusive. Intervals are 95%; exact rows (closed forms, exact sums) have none.",
        "",
        "Verdicts: " + ", ".join(f"{v} {n}" for v, n in counts.items()),
        "",
    ]
    if (meta.get("merged") or {}).get("dropped"):
        lines += ["Rows of claims no longer registered were left out of this merged report: "
                  + ", ".join(f"`{n}`" for n in meta["merged"]["dropped"]) + ".", ""]
    if meta.get("left_out"):
        lines += [f"**This report judges {meta['judged']} of the {meta['registered']} registered claims** (`--only`); not run: "
                  + ", ".join(f"`{n}`" for n in meta["left_out"]) + ".", ""]
    lines += [
        "| claim | source | verdict | effect [95% CI, or exact] (n) | condition or counterexample | control | figure | test |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        control = r["control_result"]
        lines.append("| " + " | ".join(_cell(x) for x in (
            f"`{r['claim']}`", r["source"], f"**{r['verdict']}**", f"{r['effect']['what']}: {r['effect']['text']}", _short(r["condition"]) or "—",
            f"{control['outcome']}: {control['text']}", r["figure"] or "—", f"`{r['test']}`" if r["test"] else "—",
        )) + " |")
    for r in rows:
        lines += ["", f"## `{r['claim']}`: {r['verdict']}", "", f"**Statement** ({r['source']}): {r['statement']}", "",
                  f"- pass rule: {r['rule']}", f"- result: {r['effect']['what']} = {r['effect']['text']}, {r['effect']['outcome']}",
                  f"- negative control: {r['control']}; result {r['control_result']['text']}, {r['control_result']['outcome']} (must not pass)"]
        if r["calibration"] is not None:
            lines.append(f"- calibration: {r['calibration_rule']}; {r['calibration']['what']} = {r['calibration']['text']}, {r['calibration']['outcome']}")
        if r["condition"]:
            lines.append(f"- condition or counterexample: {r['condition']}")
        if r["conditional"] is not None:
            lines.append(f"- under the condition: {r['conditional']['what']} = {r['conditional']['text']}, {r['conditional']['outcome']}")
        lines.append(f"- seeds: {_seed_text(r['seeds'])} ({r['n_seeds']})" + (f"; judged at commit {r['judged_at']}" if len(commits) > 1 else ""))
        if r["notes"]:
            lines.append(f"- notes: {r['notes']}")
        if r["test"]:
            lines.append(f"- reproduced by: `{r['test']}`")
        for p in r.get("figure_paths", [])[:1]:
            lines.append(f"- figure: `{p}`")
    return "\n".join(lines) + "\n"


def _seed_text(seeds: list) -> str:
    if not seeds:
        return "none (exact)"
    s = sorted(seeds)
    return f"{s[0]}-{s[-1]}" if s == list(range(s[0], s[-1] + 1)) and len(s) > 1 else ",".join(map(str, s))
