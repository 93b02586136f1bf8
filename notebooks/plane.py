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
# # Paper Fig. 2: the Neon direction vs more real data
#
# log₁₀ W₂ to the truth over the plane θ_r + w_s(θ_r − θ_s) + w_o(θ_o − θ_r) on the AR toy,
# where θ_o is fine-tuned on 4× the real data.

# %% tags=["parameters"]
preset = "smoke"
store = "results/store"
out = "figures"

# %%
import pandas as pd
from IPython.display import Image, display

from neon_theory.run.figures import make_figure, workspace_path

store, out = workspace_path(store), workspace_path(out)  # where the CLI writes, from any working directory

# %%
plane = make_figure("plane", preset, store=store, out=out)
display(Image(filename=str(plane["paths"][0])))
frame = plane["frames"]["plane"]
pd.DataFrame(
    {
        "seed": frame.seed,
        "base": frame["result.base"],
        "Neon axis best": frame["result.neon_axis_best"],
        "real axis best": frame["result.real_axis_best"],
        "Neon matches real": frame["result.neon_matches_real"],
    }
)
