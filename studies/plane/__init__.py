"""Paper Fig. 2 on the AR toy: ``plane-cell`` and the figure plane."""
