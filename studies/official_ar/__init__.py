"""The official AR toy of the paper's notebook: ``ar-cell`` and the figures official-ar and precision-recall-vs-w."""
