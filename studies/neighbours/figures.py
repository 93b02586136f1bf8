"""The neighbours study's figure: self-consuming loops on the exact 2-D mixture, per generation, by form and sampler bias."""

from __future__ import annotations

import pandas as pd

from neon_theory.run import plots
from neon_theory.run.figures import register_figure
from neon_theory.run.sweeps import SweepSpec

from ..presets import preset_seeds

#: the sampler-bias knob: mode-seeking, neutral, diversity-seeking
LOOP_TAUS = (0.7, 1.0, 1.3)


def loops_spec(preset: str) -> SweepSpec:
    taus = (LOOP_TAUS[0], LOOP_TAUS[-1]) if preset == "smoke" else LOOP_TAUS
    return SweepSpec("mixture-loop-cell", grid={"form": ["replace", "accumulate", "fresh"], "sampler": [f"std-temperature={t}" for t in taus]},
                     seeds=preset_seeds(preset), fixed={"preset": preset, "generations": 3 if preset == "smoke" else 5})


def by_generation(frame: pd.DataFrame, columns: tuple) -> pd.DataFrame:
    """One row per (record, generation) from the ``result.<c>_by_generation`` lists, with a ``generation`` column."""
    lists = [f"result.{c}_by_generation" for c in columns]
    rows = frame.assign(generation=[list(range(len(v))) if isinstance(v, list) else [] for v in frame[lists[0]]])
    out = rows.explode(["generation", *lists], ignore_index=True)
    return out.rename(columns=dict(zip(lists, columns))).dropna(subset=["generation"])


def draw_loops(f: dict):
    table = by_generation(f["loops"], ("nll", "recall", "s"))
    table["tau"] = [float(s.split("=")[1]) for s in table["sampler"]]
    panel = dict(df=table, x="generation", hue="form", style="tau")
    return plots.panels(
        dict(panel, y="nll", ylabel="population NLL", title="quality: exact NLL"),
        dict(panel, y="recall", ylabel="prdc recall", title="diversity: recall (k = 5)"),
        dict(panel, y="s", ylabel="s = <r_d, r_s>", zero=True, title="the alignment s (P = I) of each generation"),
        title="self-consuming loops on the 2-D mixture: replace, accumulate, fresh (half real) by sampler std-temperature τ",
    )


register_figure(
    "neighbours-loops",
    "self-consuming loops on the exact 2-D mixture: the NLL, recall and s per generation, by loop form and sampler bias τ",
    {"loops": loops_spec},
    draw_loops,
)
