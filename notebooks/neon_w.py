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
# # Neon along w: the metric, precision/recall, the budget and |S|
#
# The metric vs w with the predicted w* = −s/(αz) and Brent's best w, prdc precision and
# recall vs w, the best w vs the fine-tuning budget, and the gain vs |S|.

# %% tags=["parameters"]
preset = "smoke"
store = "results/store"
out = "figures"

# %%
from IPython.display import Image, display

from neon_theory.run.figures import make_figure, workspace_path
from neon_theory.run.summary import display_table, summarise

store, out = workspace_path(store), workspace_path(out)  # where the CLI writes, from any working directory

# %%
mw = make_figure("metric-vs-w", preset, store=store, out=out)
display(Image(filename=str(mw["paths"][0])))
mw["frames"]["gaussian"].groupby(["base", "T"])[["result.w_star", "result.best_w"]].mean().round(3)

# %%
pr = make_figure("precision-recall-vs-w", preset, store=store, out=out)
display(Image(filename=str(pr["paths"][0])))

# %%
budget = make_figure("best-w-vs-budget", preset, store=store, out=out)
display(Image(filename=str(budget["paths"][0])))
display_table(summarise(budget["frames"]["ar"], ["best_w"]))

# %%
size = make_figure("gain-vs-size", preset, store=store, out=out)
display(Image(filename=str(size["paths"][0])))
