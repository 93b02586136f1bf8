# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
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
out = "results/figures"

# %%
from IPython.display import Image, display

from neon_theory.run.figures import make_figure
from neon_theory.run.plots import seed_bands

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
seed_bands(budget["frames"]["ar"], x="ft_epochs", y="result.best_w", hue="tau").round(3)

# %%
size = make_figure("gain-vs-size", preset, store=store, out=out)
display(Image(filename=str(size["paths"][0])))
