"""The Gaussian study's commands, registered with the CLI (the ``neon_theory.commands`` entry point).

* ``demo``: the Neon loop on the exact Gaussian family, a table and a figure;
* ``align``: the alignment report for a Gaussian data law, model and sampler.

Heavy modules (torch, the families) are imported inside the commands, so ``--help`` stays fast.
"""

from __future__ import annotations

import math
from pathlib import Path

from neon_theory.checks import check_real
from neon_theory.run.cli import (
    DEGENERATE_COSINE,
    CLIError,
    add_device_option,
    confirm_cost,
    integer,
    non_finite_entries,
    on_device,
    output_folder,
    register_command,
    seed_option,
    show_progress,
)

#: engine names of the Gaussian moments → the options that set them
_MOMENT_OPTIONS = {"data_mean": "--data-mean", "data_cov": "--data-cov", "model_mean": "--model-mean", "model_cov": "--model-cov"}


PRECONDITIONERS = ("identity", "natural", "data-hessian", "star-hessian", "fisher-diag")


def parse_vector(text: str, option: str):
    """'0.1,-0.2' → tensor of shape (D,)."""
    import torch

    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        raise CLIError(f"{option} must be comma-separated numbers like '0,0.5'; got {text!r}") from None
    if not all(math.isfinite(v) for v in vals):
        raise CLIError(f"{option} must contain finite numbers; got {text!r}")
    return torch.tensor(vals, dtype=torch.float64)


def parse_matrix(text: str, option: str):
    """'2,1;1,2' → tensor of shape (D, D) (rows separated by ';')."""
    rows = [parse_vector(r, option) for r in text.split(";")]
    if len({r.shape[0] for r in rows}) != 1 or rows[0].shape[0] != len(rows):
        raise CLIError(f"{option} must be a square matrix written row by row like '2,1;1,2'; got {text!r}")
    return rows[0].new_tensor([r.tolist() for r in rows])


def _in_user_names(message: str) -> str:
    for name, option in _MOMENT_OPTIONS.items():
        message = message.replace(name, option)
    return message


def _build_gaussian(args):
    from toy_models.gaussian import GaussianModel, GaussianTarget

    try:
        return _gaussian_pair(args, GaussianModel, GaussianTarget)
    except CLIError:
        raise
    except ValueError as e:
        message = str(e)
        if args.model_cov is None:  # the model covariance is --model-scale × the data covariance
            message = message.replace("model_cov", "--model-scale × --data-cov (the model covariance)")
        raise CLIError(_in_user_names(message)) from None


def _gaussian_pair(args, GaussianModel, GaussianTarget):
    D = args.dim
    if args.data_cov is not None:
        data_cov = parse_matrix(args.data_cov, "--data-cov")
    else:
        import torch

        data_cov = torch.tensor([[2.0, 1.0], [1.0, 2.0]], dtype=torch.float64) if D == 2 else torch.eye(D, dtype=torch.float64)
    data_mean = parse_vector(args.data_mean, "--data-mean") if args.data_mean is not None else data_cov.new_zeros(D)
    for name, t in (("--data-cov", data_cov), ("--data-mean", data_mean)):
        if t.shape[0] != D:
            raise CLIError(f"{name} must have dimension --dim={D}; got {t.shape[0]}")
    target = GaussianTarget(data_mean, data_cov)
    c = check_real("--model-scale", args.model_scale, 0.0, math.inf, lo_open=True)  # checked even when unused
    model_cov = parse_matrix(args.model_cov, "--model-cov") if args.model_cov is not None else c * data_cov
    model_mean = parse_vector(args.model_mean, "--model-mean") if args.model_mean is not None else data_mean.clone()
    for name, t in (("--model-cov", model_cov), ("--model-mean", model_mean)):
        if t.shape[0] != D:
            raise CLIError(f"{name} must have dimension --dim={D}; got {t.shape[0]}")
    return target, GaussianModel(model_mean, model_cov)


def _preconditioner(name: str, oracle):
    from neon_theory.preconditioners import Diagonal, exact_inverse, identity

    if name == "identity":
        return identity()
    if name == "natural":
        return exact_inverse(oracle.fisher_r, name="natural F(θ_r)^-1")
    if name == "data-hessian":
        return exact_inverse(oracle.H_hat, name="H_data(θ_r)^-1")
    if name == "star-hessian":
        return exact_inverse(oracle.H_d, name="H_d(θ*)^-1")
    return Diagonal(1.0 / oracle.fisher_r.diagonal(), "diag F(θ_r)^-1")


def cmd_align(args) -> dict:
    from neon_theory.sampler_text import parse_sampler
    from neon_theory.samplers import DENSITY_TEMPERATURE_RANGE, Sharpening, Temperature, total_temperature, undefined_at_neutral
    from toy_models.gaussian import alignment_cost, exact_quantities

    try:
        sampler = parse_sampler(args.sampler)
    except ValueError as e:
        raise CLIError(f"--sampler: {e}") from None
    alpha = check_real("--alpha", args.alpha, 0.0, math.inf, lo_open=True)
    if args.mc != 0 and args.mc < 2 * args.batches:
        raise CLIError(f"--mc must be 0 (exact) or at least 2*--batches={2 * args.batches}; got {args.mc}")
    seconds, nbytes = alignment_cost(args.dim, args.mc, args.batches if args.mc else 0)
    what = f"align --dim {args.dim} --mc {args.mc}" + (f" --batches {args.batches}" if args.mc else "")
    confirm_cost(what, seconds, nbytes, args.yes, "--dim, --mc or --batches")
    target, model = _build_gaussian(args)
    try:
        oracle = exact_quantities(target, model, sampler)
    except ValueError as e:
        raise CLIError(_in_user_names(str(e))) from None
    try:
        P = _preconditioner(args.preconditioner, oracle)
    except ValueError as e:
        raise CLIError(f"--preconditioner {args.preconditioner}: {e}") from None
    try:
        rep = _alignment_report(args, target, model, sampler, P, oracle, alpha)
    except ValueError as e:
        raise CLIError(f"cannot compute the alignment for these inputs: {_in_user_names(str(e))}") from None
    out = rep.to_dict()
    overflowed = sorted(non_finite_entries(out))
    if overflowed:  # each input in range, but together beyond float64: refuse rather than print NaN
        raise CLIError(
            f"the report overflows float64 for these inputs ({', '.join(overflowed[:4])} not finite); "
            "use means, covariances and a temperature closer to unit scale"
        )
    T = total_temperature(sampler, "the Gaussian family")  # a chain of temperatures multiplies
    # this family's law depends on T alone (a chain that multiplies to 1 is neutral); T may pass the range's end by round-off
    label = Temperature(min(max(T, DENSITY_TEMPERATURE_RANGE[0]), DENSITY_TEMPERATURE_RANGE[1])).sharpening()
    out = undefined_at_neutral(out, label is Sharpening.NEUTRAL)
    out["sampler"] = sampler.to_dict() | {"temperature": T, "sharpening": label.value}
    out["mode"] = "exact" if args.mc == 0 else f"monte-carlo n={args.mc}"
    out["resolved"] = _resolved_inputs(target, model, P, oracle.r_d.shape[0])
    if not args.json:
        _print_alignment(rep, out)
    return out


def _resolved_inputs(target, model, P, p: int) -> dict:
    """The inputs as the report used them, defaults filled in: the moments and P as a dense (p, p) matrix."""
    return {
        "data_mean": target.mean.tolist(), "data_cov": target.cov.tolist(), "model_mean": model.mean.tolist(), "model_cov": model.cov.tolist(),
        "preconditioner": {"name": P.name, "matrix": P.matrix(p).tolist()},
    }


def _alignment_report(args, target, model, sampler, P, oracle, alpha):
    from neon_theory.alignment import alignment, theory_quantities
    from neon_theory.gradients import ModelLaw, paired_population_gradients
    from neon_theory.rng import generator
    from toy_models.gaussian import exact_alignment

    if args.mc == 0:
        rep = exact_alignment(target, model, sampler, P, alpha=alpha)
    else:
        est = paired_population_gradients(
            model,
            {"real": target, "synthetic": ModelLaw(model, sampler)},
            args.mc,
            generator=generator(args.seed, "align"),
            n_batches=args.batches,
        )
        th = theory_quantities(oracle.eps, oracle.H_d, oracle.b, oracle.Delta, P)
        rep = alignment(est["real"], est["synthetic"], P, alpha=alpha, hessian=oracle.H_hat, theory=th)
    return rep


def _estimate(out: dict, name: str) -> str:
    """One quantity of the report in words: ``value ± SE, 95% interval [lo, hi]``, ``value (exact)``, or why it has no value."""
    value = out[name]
    if value is None:
        return out.get("undefined") or f"undefined ({out.get(f'{name}_reason') or 'no value'})"
    if out["exact"]:
        return f"{value:+.6g} (exact)"
    se, ci = out[f"{name}_se"], out.get(f"{name}_ci")
    if ci is None:  # z: the report keeps its SE only; its interval is the report's own t-interval (n_batches − 1 d.o.f.)
        from scipy import stats

        half = float(stats.t.ppf(0.5 + out["level"] / 2, out["n_batches"] - 1)) * se
        ci = (value - half, value + half)
    return f"{value:+.6g} ± {se:.2g}, {out['level']:.0%} interval [{ci[0]:+.4g}, {ci[1]:+.4g}]"


def _print_alignment(rep, out: dict) -> None:
    from neon_theory.alignment import W_STAR_SCOPE
    from neon_theory.samplers import UNDEFINED_AT_NEUTRAL

    print(f"alignment on the Gaussian family ({out['mode']}), P = {rep.preconditioner}, "
          f"sampler T = {out['sampler']['temperature']:g} ({out['sampler']['sharpening']})")
    print(f"  s        = {_estimate(out, 's')}" + ("" if out.get("undefined") else f"   [{rep.verdict}]"))
    print(f"  P-cosine = {_estimate(out, 'cosine')}")
    print(f"  z        = {_estimate(out, 'z')}")
    print(f"  w*       = {_estimate(out, 'w_star')}  (alpha = {rep.alpha:g})")
    if rep.w_star is not None and not rep.exact:
        print(f"           {W_STAR_SCOPE}")
    th = rep.theory
    print(f"  theory:  |eps|_H={th.eps_norm_H:.4g} eta0={th.eta0:.4g} eta1={th.eta1:.4g} m={th.m:.4g} M={th.M:.4g} cos(phi)={th.cos_phi:+.4g}")
    print(
        f"           Thm 1, first order (bounds s1 = {th.s_first_order:+.4g}, not s): bound (printed) = {th.bound_printed:+.4g}; "
        f"corrected = {th.bound_corrected_first_order:+.4g}; sufficient condition (first order): {th.sufficient_condition_first_order}"
    )
    if out.get("undefined"):  # the engine's notes about a zero r_s say the same, in its terms
        print(f"  note: s, the P-cosine and w* are {UNDEFINED_AT_NEUTRAL}: at T = 1, q = p_theta, so r_s = 0 and any estimate of them is noise")
        return
    for note in rep.notes:
        if not (rep.degenerate and note.startswith("degenerate")):  # said below in terms of the options
            print(f"  note: {note}")
    if rep.degenerate:
        print(f"  note: {DEGENERATE_COSINE}")


def cmd_demo(args) -> dict:
    import pandas as pd

    from neon_theory.run import plots
    from neon_theory.samplers import UNDEFINED_AT_NEUTRAL

    from .demo import DemoConfig, metric_curves, run_demo

    output_folder("--out", args.out)
    cfg = DemoConfig(seed=args.seed, w=args.w)
    table = neutral_rows_undefined(run_demo(cfg, progress=show_progress(args)))
    ws = [i / 10 for i in range(-40, 61)]
    T_show = 0.7
    curves = metric_curves(cfg, T_show, ws)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    # the cosine is undefined at the neutral T = 1 (r_s = 0): that point is left out and no line crosses it
    plots.alignment_vs_sharpness(table, x="T", y="cosine", hue="base", ax=axes[0], neutral=1.0)
    axes[0].set_title("P-cosine vs density temperature (P = I)")
    at_T = table[table["T"] == T_show].set_index("base")
    marks = {b: {"predicted w*": at_T.loc[b, "w_star"], "best w": at_T.loc[b, "best_w"]} for b in at_T.index}
    plots.metric_vs_w(curves, metric="nll", hue="base", marks=marks, ax=axes[1])
    axes[1].set_title(f"population NLL of the Neon merge, T = {T_show}")
    ok = table.dropna(subset=["w_star"])
    colours = plots.colours_for(ok["base"].unique())  # each base has one colour in every figure
    for b, g in ok.groupby("base", sort=False):
        axes[2].scatter(g["w_star"], g["best_w"], label=b, color=colours[b])
    lim = max(1.0, float(ok[["w_star", "best_w"]].abs().max().max()))
    axes[2].plot([-lim, lim], [-lim, lim], "k--", lw=0.8, label="best w = w*")
    axes[2].set_xlabel("predicted w* = −s/(αz)")
    axes[2].set_ylabel("best w (Brent, exact NLL)")
    axes[2].legend(fontsize=8)
    axes[2].set_title("first-order prediction vs empirical best w")
    fig.suptitle(f"the Neon loop on the exact Gaussian family: 1 seed (seed {cfg.seed}), |S| = {cfg.n_synthetic}, "
                 f"SGD with α = {cfg.alpha:g}, exact population NLL", fontsize=9)
    fig.tight_layout()
    written = plots.save(fig, Path(args.out) / "demo")
    if not args.json:
        with pd.option_context("display.width", 120, "display.max_columns", 20, "display.float_format", "{:+.4g}".format):
            auto = [c for c in table if c.startswith("auto_")]
            print(table.drop(columns=["base_nll", "z", "sampler", "undefined", *auto]).to_string(index=False, na_rep="—"))
            if auto:
                print(table[["base", "T", "best_w", *auto]].drop(columns="auto_covers_best").to_string(index=False, na_rep="—"))
        print(f"alpha = lr x steps = {cfg.alpha:g}; |S| = {cfg.n_synthetic}; P = I (SGD); metric = exact population NLL; one seed ({cfg.seed})")
        print(f"— : {UNDEFINED_AT_NEUTRAL} (T = 1: r_s = 0, so s, the P-cosine and w* = −s/(αz) have no value; the best w of a finite S is its noise)")
        if cfg.w == "auto":
            n_cover = int(table["auto_covers_best"].sum())
            print(f"auto w: from the real NLL along the step on {cfg.n_auto} draws, no metric search; its 95% interval "
                  f"[auto_w_low, auto_w_high] holds the exact best w in {n_cover} of {table['auto_w'].notna().sum()} rows; "
                  "auto_nll_gap = exact NLL at auto w minus at the best w")
        print("figure: " + ", ".join(map(str, written)))
    return {"config": cfg.to_dict(), "rows": table.to_dict(orient="records"), "figures": [str(p) for p in written]}


NOISE_AT_NEUTRAL = ("w_star_displacement", "best_w", "gain", "auto_w", "auto_w_low", "auto_w_high", "auto_nll_gap")


def neutral_rows_undefined(table):
    """The demo table with the best w and its gain at T = 1 set to NaN as well (printed —, null in JSON) and
    the verdict saying why: s = 0 exactly, and a finite S only fits its own noise there."""
    from neon_theory.samplers import UNDEFINED_AT_NEUTRAL

    table = table.copy()
    neutral = table["sampler"] == "neutral"
    table.loc[neutral, [c for c in NOISE_AT_NEUTRAL if c in table]] = float("nan")
    if "auto_covers_best" in table:
        table["auto_covers_best"] = table["auto_covers_best"].astype(object)
        table.loc[neutral, "auto_covers_best"] = None
    table.loc[neutral, "verdict"] = UNDEFINED_AT_NEUTRAL  # the phrase every table, JSON output and figure uses
    return table


def _demo_options(p) -> None:
    seed_option(p)
    p.add_argument("--out", default="results/demo", help="folder for the figure (default: results/demo, outside the tracked tree)")
    p.add_argument("--w", choices=("best", "auto"), default="best",
                   help="'auto' adds w chosen from the real loss along the step without a metric search, its interval and the exact NLL "
                   "it gives away against the best w (default best: Brent on the exact NLL only)")
    add_device_option(p)


def _align_options(a) -> None:
    a.add_argument("--dim", type=integer(1), default=2, help="dimension D in [1, inf); the report costs ~p^1.5 with p = 2D + D(D-1)/2 (default 2)")
    a.add_argument("--data-mean", default=None, help="e.g. '0,0' (default zeros)")
    a.add_argument("--data-cov", default=None, help="rows separated by ';', e.g. '2,1;1,2' (default: that for D=2, else I)")
    a.add_argument("--model-mean", default=None, help="default: the data mean")
    a.add_argument("--model-cov", default=None, help="default: --model-scale x data cov")
    a.add_argument("--model-scale", type=float, default=0.8, help="the model covariance is this times the data covariance (default 0.8)")
    a.add_argument(
        "--sampler", default="temperature=0.7",
        help="a sampler spec NAME=VALUE, several joined by '+' into a chain applied left to right (e.g. temperature=0.8+top-k=5 for "
        "a categorical model); this family takes temperature=T (density) and std-temperature=TAU, and a chain of them multiplies "
        "(e.g. temperature=0.8+std-temperature=0.9) (default temperature=0.7)",
    )
    a.add_argument(
        "--preconditioner", choices=PRECONDITIONERS, default="identity", help=f"P in s = <r_d, P r_s>: one of {', '.join(PRECONDITIONERS)} (default identity)",
    )
    a.add_argument("--alpha", type=float, default=0.1, help="effective step lr x steps in (0, inf), for w* (default 0.1)")
    a.add_argument("--mc", type=integer(0), default=0, help="Monte Carlo sample size in [0, inf) (0 = exact; 1e5 is accepted; default 0)")
    a.add_argument("--batches", type=integer(2), default=32, help="batches for standard errors (with --mc), in [2, inf) (default 32)")
    a.add_argument("--yes", action="store_true", help="run a request estimated to take over a minute or 2 GiB")
    seed_option(a)
    add_device_option(a)


register_command("demo", "the Neon loop on the exact Gaussian family: table + figure", _demo_options, on_device(cmd_demo))


register_command("align", "alignment report for a Gaussian data law, model and sampler", _align_options, on_device(cmd_align))

