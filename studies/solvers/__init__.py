"""App. B.7: finite-step solvers as samplers (A-MONO), on exact-score diffusion."""
