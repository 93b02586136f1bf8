"""Saved figures are reproducible: byte-identical files whatever the clock.
"""









import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from neon_theory.run import plugins  # noqa: E402

plugins.load("neon_theory.experiments")  # registers the studies' cells

from neon_theory.run import plots  # noqa: E402

# ---- reproducible outputs ----------------------------------------------------------------------


def _figure():
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1, 2], [1, 0, 2])
    return fig


def test_saved_figures_are_byte_identical_whatever_the_clock(tmp_path, monkeypatch):
    """matplotlib stamps SOURCE_DATE_EPOCH (else now) into a PDF unless the metadata says not to."""
    paths = []
    for i, epoch in enumerate(["0", "1700000000"]):
        monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
        paths.append(plots.save(_figure(), tmp_path / f"f{i}"))
    for a, b in zip(*paths):
        assert a.read_bytes() == b.read_bytes(), a.suffix
    # What the files carry is decided by the metadata we pass, not by matplotlib's own wording
    # (a producer string or a PNG "Software" key changes with its releases): every stamp is off.
    assert plots.REPRODUCIBLE_METADATA["pdf"]["CreationDate"] is None
    assert all(v is None for v in plots.REPRODUCIBLE_METADATA["png"].values())
    assert b"CreationDate" not in paths[0][1].read_bytes()  # a PDF key of the spec, whoever writes it
    assert not list(tmp_path.glob(".tmp-*"))  # the atomic-write temp files are gone
