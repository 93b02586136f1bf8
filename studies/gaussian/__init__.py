"""The exact Gaussian family: the demo, ``gaussian-cell``, the ``demo`` and ``align`` commands, and the figures metric-vs-w and over-dispersed."""
