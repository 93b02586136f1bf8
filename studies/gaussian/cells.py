"""The exact Gaussian study's cell: s, the cosine, w* and Brent's best w of the exact NLL (``gaussian-cell``)."""

from __future__ import annotations

from dataclasses import dataclass

from neon_theory.checks import check_bool, check_choice, check_int, check_real
from neon_theory.rng import child_seed
from neon_theory.run.experiments import experiment
from neon_theory.sampler_text import parse_sampler, sampler_text
from neon_theory.samplers import Temperature, std_to_density_temperature

from ..common import (
    AUTO_BATCHES,
    AUTO_RESULTS,
    LOSS_XTOL,
    POSITIVE,
    auto_record,
    check_ws,
    clean,
    direction_record,
    direction_results,
    random_directions,
    results_of,
    sampler_field,
)


@dataclass(frozen=True)
class GaussianCell:
    """One cell of the Gaussian demo: exact s, cosine, w*, and Brent's best w of the NLL.

    Attributes:
        sampler (str): a temperature in the text syntax, ``temperature=T`` (p^(1/T), T in [1e-100, 1e100])
            or ``std-temperature=τ`` (T = τ² for a Gaussian).
        base (str): ``under-dispersed`` or ``over-dispersed`` (the demo's two base models).
        n_synthetic (int): |S| in [2, inf).
        steps (int): SGD steps (the budget; α = lr × steps), in [1, inf).
        lr (float): in (0, inf).
        w_values (tuple): w at which to also report the NLL (for curves).
        proxy_ws (tuple): w at which to compare Thm B.1's quadratic proxy wαs + ½(wα)²z with the exact
            change of the NLL, along the realised merge and along the first-order step −αP r_s (P = I).
        auto_w (bool): also choose w without a metric search (:func:`neon_theory.autow.auto_w`, both
            variants) on ``n_auto`` fresh real draws (Monte Carlo, as a user without the closed form
            would have it), and report the exact NLL there: the exact best w is the truth it is judged by.
        n_auto (int): real draws for ``auto_w``, in [20, inf) (20 row batches).
        directions (bool): also merge along the other directions of :data:`neon_theory.directions.DIRECTION_ARMS`
            (the exact −αr_s, P = I for SGD; one full-batch SGD step on S at lr α; a random direction), each
            scaled to the step's norm, with Brent's best w on the exact NLL along each.
    """

    sampler: str = "temperature=0.5"
    base: str = "under-dispersed"
    n_synthetic: int = 20000
    steps: int = 10
    lr: float = 0.02
    w_values: tuple = ()
    proxy_ws: tuple = ()
    auto_w: bool = False
    n_auto: int = 20000
    directions: bool = False

    RENAMED = {"T": "write sampler: temperature=T"}

    def __post_init__(self):
        spec = sampler_field(self, allowed=(Temperature,))
        if not isinstance(spec, Temperature):
            raise ValueError(f"sampler {self.sampler!r}: GaussianCell takes one temperature (temperature=T or std-temperature=TAU)")
        if spec.convention != "density":  # one spelling per sampler: one cache key, one column (T)
            object.__setattr__(self, "sampler", sampler_text(Temperature(std_to_density_temperature(spec.value))))
        check_choice("base", self.base, ("under-dispersed", "over-dispersed"))
        check_int("n_synthetic", self.n_synthetic, lo=2)
        check_int("steps", self.steps, lo=1)
        check_real("lr", self.lr, *POSITIVE, lo_open=True)
        check_ws("w_values", self.w_values)
        check_ws("proxy_ws", self.proxy_ws)
        check_bool("auto_w", self.auto_w)
        check_bool("directions", self.directions)
        check_int("n_auto", self.n_auto, lo=20)


    @property
    def T(self) -> float:
        """The sampler as a density temperature T."""
        return parse_sampler(self.sampler).value

@experiment("gaussian-cell", config=GaussianCell, results=results_of(
    "s", "cosine", "z", "w_star", "w_star_displacement", "best_w", "gain", "alpha", "undefined", *AUTO_RESULTS,
    sampler="the sampler's direction at T: mode-seeking, neutral or diversity-seeking",
    base_nll="the exact population NLL of the base model theta_r",
    verdict="the best w in words: Neon helps, self-training helps, no gain, or best w at bracket edge",
    nll_at_w="the exact population NLL at each of w_values",
    step_cosine="cos(Delta, -P r_s): how well the realised step Delta = theta_s - theta_r is the first-order step (P = I)",
    proxy_at_w="Thm B.1's quadratic proxy w alpha s + (w alpha)^2 z / 2 at each of proxy_ws",
    change_at_w="the exact NLL change R(theta_Neon(w)) - R(theta_r) along the realised merge at each of proxy_ws",
    first_order_change_at_w="the exact NLL change R(theta_r + w alpha P r_s) - R(theta_r) at each of proxy_ws",
    nll_at_auto="the exact population NLL at auto_w",
    nll_at_auto_three_point="the exact population NLL at auto_w_three_point",
    **direction_results({"nll": "the exact population NLL"}),
))
def gaussian_cell(cfg: GaussianCell, seed: int) -> dict:
    from neon_theory.neon import w_sweep
    from neon_theory.params import state_vector, unflatten
    from toy_models.gaussian import exact_quantities, population_nll

    from .demo import DemoConfig, demo_row, demo_target

    demo = DemoConfig(n_synthetic=cfg.n_synthetic, lr=cfg.lr, steps=cfg.steps, seed=seed)
    row, model, st = demo_row(demo, cfg.base, cfg.T)
    out = clean({k: v for k, v in row.items() if k not in ("base", "T")})
    out["alpha"] = demo.alpha
    target = demo_target(demo)
    nll = lambda m, g: population_nll(target, m)  # noqa: E731
    if cfg.w_values:
        out["nll_at_w"] = list(w_sweep(model, st.state_dict, cfg.w_values, nll).values)
    o = exact_quantities(target, model, Temperature(cfg.T))
    delta = state_vector(model.module, st.state_dict) - model.theta()
    if o.r_s.norm() > 0 and delta.norm() > 0:
        out["step_cosine"] = float(-(delta @ o.r_s) / (delta.norm() * o.r_s.norm()))
    if cfg.proxy_ws and out.get("s") is not None:
        base = out["base_nll"]
        first_order = unflatten(model.theta() - demo.alpha * o.r_s, model.module)  # a "θ_s" one exact first-order step away (P = I)
        out["proxy_at_w"] = [w * demo.alpha * out["s"] + 0.5 * (w * demo.alpha) ** 2 * out["z"] for w in cfg.proxy_ws]
        out["change_at_w"] = [v - base for v in w_sweep(model, st.state_dict, cfg.proxy_ws, nll).values]
        out["first_order_change_at_w"] = [v - base for v in w_sweep(model, first_order, cfg.proxy_ws, nll).values]
    if cfg.auto_w:  # its own draws per cell (the demo's stream), none shared with S or the fine-tuning
        line = {"n": cfg.n_auto, "n_batches": AUTO_BATCHES, "seed": child_seed(seed, f"auto/{cfg.base}/{cfg.T}")}
        out.update(auto_record(model, st.state_dict, target, {"nll": (nll, 0)}, line))
    if cfg.directions:
        out.update(_directions(cfg, demo, seed, model, delta, o.r_s, nll))
    return clean(out)


def _directions(cfg: GaussianCell, demo, seed: int, model, delta, r_s, nll) -> dict:
    """The step, the exact first-order step −αr_s (SGD: P = I), one full-batch SGD step on S at lr α, and two random directions."""
    import torch

    from neon_theory.directions import one_step_direction

    from .demo import synthetic_set

    S = synthetic_set(demo, model, cfg.base, cfg.T)
    directions = {"step": delta, "first-order": -demo.alpha * r_s.to(delta),
                  "one-step": one_step_direction(model, S, demo.alpha, optimizer="sgd", generator=torch.Generator().manual_seed(0)),
                  **random_directions(delta, seed, f"dir-random/{cfg.base}/{cfg.T}")}
    compute = {"step": cfg.steps * cfg.n_synthetic, "one-step": cfg.n_synthetic}
    return direction_record(model, directions, {"nll": (nll, 0)}, {"nll": (demo.bracket, LOSS_XTOL)}, compute)


#: how a fit-cell's base model is fitted to its n training points
FITS = ("mle", "smoothed", "early-stopped")


@dataclass(frozen=True)
class GaussianFitCell:
    """The exact s of a Gaussian base fitted to n draws of N(0, I_D), by how it was fitted (Thm 2's reach).

    Attributes:
        dim (int): D in [1, 50].
        n (int): training-set size in [D + 2, inf).
        fit (str): ``mle`` (the sample mean and 1/n covariance), ``smoothed`` (the MLE covariance plus
            ``smoothing`` · I: a flatter, more diffuse model, like pseudo-counts on a table) or
            ``early-stopped`` (``es_steps`` full-batch Adam steps on the training NLL at lr 0.05 from
            N(0, start_var · I): stopped while still too diffuse; at 20 steps Adam overshoots the MLE
            and the base ends too sharp).
        smoothing (float): the variance added by ``smoothed``, in [0, inf).
        es_steps (int): the Adam steps of ``early-stopped``, in [1, inf).
        start_var (float): the starting variance of ``early-stopped``, in (0, inf).
        sampler (str): a density temperature in the text syntax, ``temperature=T``.
    """

    dim: int = 2
    n: int = 50
    fit: str = "mle"
    smoothing: float = 0.2
    es_steps: int = 10
    start_var: float = 4.0
    sampler: str = "temperature=0.7"

    def __post_init__(self):
        check_int("dim", self.dim, lo=1, hi=50)
        check_int("n", self.n, lo=self.dim + 2)
        check_choice("fit", self.fit, FITS)
        check_real("smoothing", self.smoothing, 0.0, float("inf"))
        check_int("es_steps", self.es_steps, lo=1)
        check_real("start_var", self.start_var, *POSITIVE, lo_open=True)
        spec = sampler_field(self, allowed=(Temperature,))
        if not isinstance(spec, Temperature) or spec.convention != "density":
            raise ValueError(f"sampler {self.sampler!r}: GaussianFitCell takes one density temperature, temperature=T")

    @property
    def T(self) -> float:
        """The sampler as a density temperature T."""
        return parse_sampler(self.sampler).value


@experiment("gaussian-fit-cell", config=GaussianFitCell, results=results_of(
    s_natural="the exact s with the natural gradient P = F(theta_r)^-1 (coordinate-free)",
    s_identity="the exact s with P = I in the model's (mu, log-Cholesky) coordinates",
    cosine_natural="the P-cosine with the natural gradient",
    trace_ratio="tr(Sigma_r^-1 (Sigma* + delta delta^T)) / D: the sign law under the natural gradient is s < 0 iff it exceeds 1",
    too_sharp_share="the share of the eigenvalues of Sigma_r (Sigma* = I) below 1: the base's error direction, too sharp per eigen-direction",
))
def gaussian_fit_cell(cfg: GaussianFitCell, seed: int) -> dict:
    import torch

    from neon_theory.neon import fit
    from neon_theory.preconditioners import Dense, identity
    from neon_theory.rng import draw, generator
    from toy_models.gaussian import GaussianModel, GaussianTarget, exact_quantities, oracle_alignment

    f64 = torch.float64
    eye = torch.eye(cfg.dim, dtype=f64)
    target = GaussianTarget(torch.zeros(cfg.dim, dtype=f64), eye)
    x = draw(torch.randn, cfg.n, cfg.dim, generator=generator(seed, "fit/train"), dtype=f64)
    mean = x.mean(0)
    cov = (x - mean).T @ (x - mean) / cfg.n
    if cfg.fit == "smoothed":
        cov = cov + cfg.smoothing * eye
    model = GaussianModel(mean, cov)
    if cfg.fit == "early-stopped":
        model = GaussianModel(torch.zeros(cfg.dim, dtype=f64), cfg.start_var * eye)
        fit(model, x, steps=cfg.es_steps, lr=0.05, optimizer="adam", generator=generator(seed, "fit/adam"))
    o = exact_quantities(target, model, Temperature(cfg.T))
    natural = oracle_alignment(o, Dense(torch.linalg.inv(o.fisher_r)))
    plain = oracle_alignment(o, identity())
    mu_r, cov_r = model.sampler_law(None)
    lam = torch.linalg.eigvalsh(cov_r)
    return {
        "s_natural": natural.s,
        "s_identity": plain.s,
        "cosine_natural": natural.cosine,
        "trace_ratio": float(torch.trace(torch.linalg.solve(cov_r, eye + torch.outer(mu_r, mu_r))) / cfg.dim),
        "too_sharp_share": float((lam < 1).double().mean()),
    }
