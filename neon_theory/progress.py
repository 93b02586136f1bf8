"""Progress bars that behave in a terminal and in Jupyter.

``tqdm.auto`` picks the notebook widget inside Jupyter, which needs ``ipywidgets``; without
it every bar prints an ``IProgress not found`` warning and no bar.  Here the widget is used
only when ``ipywidgets`` is installed, and the plain text bar (which Jupyter shows as text)
otherwise.
"""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("ipywidgets") is not None:
    from tqdm.auto import tqdm
else:  # a text bar on stderr: fine in a terminal and in a notebook
    from tqdm.std import tqdm

__all__ = ["tqdm"]
