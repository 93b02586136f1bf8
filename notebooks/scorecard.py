# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -jupytext.text_representation
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The scorecard: a verdict for each claim of the paper
#
# Every claim is a registered contract (`neon-theory list claims`): the statement and its
# source, a pass rule and a negative control fixed in code before the run, and the sweeps it
# reads.  This notebook runs them through the one result store (what is cached is read, not
# recomputed) and renders the report that `neon-theory scorecard` writes.  At `smoke` size two
# seeds decide no statistical claim: only the exact ones get a verdict.

# %% tags=["parameters"]
preset = "smoke"
only = "theorem1-printed,theorem1-first-order,sign-law-gaussian,sign-law-ar,best-w-sign-ar"  # "" for every claim
store = "results/store"
out = "results/scorecard"

# %%
import pandas as pd
from IPython.display import Markdown, display

from neon_theory.run.claims import VERDICTS
from neon_theory.run.figures import workspace_path
from neon_theory.run.scorecard import run_scorecard

store, out = workspace_path(store), workspace_path(out)
card = run_scorecard(preset, store=store, out=out, only=tuple(only.split(",")) if only else None, figures=False)

# %% [markdown]
# One row per claim: the verdict, the effect with its 95% interval, the condition or
# counterexample, and what the negative control gave (it must not pass).

# %%
table = pd.DataFrame([{"claim": r["claim"], "source": r["source"], "verdict": r["verdict"], "effect": r["effect"]["text"],
                       "control": f"{r['control_result']['outcome']}: {r['control_result']['text']}", "condition": r["condition"][:120]}
                      for r in card["rows"]])
display(table)
assert set(table.verdict) <= set(VERDICTS)
assert all(r["control_result"]["outcome"] != "pass" or r["verdict"] == "inconclusive" for r in card["rows"])

# %% [markdown]
# Theorem 1 as printed fails already at first order for plain gradient descent, and the
# corrected condition holds only at first order: both rows name their counterexample.

# %%
rows = {r["claim"]: r for r in card["rows"]}
for name in ("theorem1-printed", "theorem1-first-order"):
    if name in rows:
        assert rows[name]["verdict"] == "holds under a condition" and "counterexample" in rows[name]["condition"], rows[name]
display(Markdown((out / "SCORECARD.md").read_text().split("\n## ")[0]))
