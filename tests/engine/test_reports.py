"""The engine's reports print as short text: the alignment report says why w* is missing and reads as a
table; a best w fits on one line."""

import pytest


def test_the_alignment_report_says_why_w_star_is_missing_and_prints_as_a_table():
    import torch

    from neon_theory.alignment import alignment
    from neon_theory.preconditioners import identity

    r_d, r_s = torch.tensor([1.0, 0.0], dtype=torch.float64), torch.tensor([-1.0, 0.5], dtype=torch.float64)
    rep = alignment(r_d, r_s, identity())
    assert rep.w_star is None and "no Hessian given" in rep.w_star_reason and "hessian_operator" in rep.w_star_reason
    text = str(rep)
    assert text.count("\n") < 12 and "P-cosine" in text and "no Hessian given" in text and repr(rep) == text
    rep = alignment(r_d, r_s, identity(), alpha=0.5, hessian=-torch.eye(2, dtype=torch.float64))
    assert rep.w_star is None and "z = " in rep.w_star_reason and "<= 0" in rep.w_star_reason
    rep = alignment(r_d, r_s, identity(), alpha=0.5, hessian=lambda v: 2 * v)
    assert rep.w_star == pytest.approx(-rep.s / (0.5 * 2 * float(r_s @ r_s)), rel=1e-12) and rep.w_star_reason is None


def test_a_best_w_prints_on_one_short_line():
    from neon_theory.neon import BestW

    best = BestW(0.25, 1.0, 1.5, 40, (-2.0, 2.0), False, tuple((0.01 * i, 1.0 + i) for i in range(40)))
    assert str(best) == repr(best) and "\n" not in str(best) and len(str(best)) < 120
    assert "w=+0.25" in str(best) and "gain=+0.5" in str(best) and "history" not in str(best)
