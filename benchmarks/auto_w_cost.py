"""The cost of w without a metric search against Brent's search on the sample metric, side by side.

    .venv/bin/python benchmarks/auto_w_cost.py --preset paper --image-preset reduced --repeats 3

For each family, on one base model and its fine-tuned θ_s (seed 0, a development seed), times in
one run, alternating the two so that drift in the machine hits both alike:

* ``auto``: :func:`neon_theory.autow.auto_w` (the displacement w, with its three-point probe), on
  the rows the cells use (the toys: ``loss_rows`` real draws; the images: the held-out images);
* ``brent``: Brent's bounded search on the FD (toys) or FID (images), as the cells run it.

Reports the median wall time of each over ``--repeats`` (after one warm-up) and their ratio, and
writes ``<out>.md`` / ``<out>.json``.  Speed is measured here, never in tests.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from neon_theory.autow import auto_w
from neon_theory.neon import brent_best_w, step_displacement
from neon_theory.rng import child_seed, generator


def _median_seconds(fns: dict, repeats: int) -> dict:
    """Median wall time of each callable, alternating them ``repeats`` times after one warm-up each."""
    for fn in fns.values():
        fn()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def _toy_pairs(preset: str, seed: int) -> dict:
    """(model, θ_s, real, auto_w kwargs, Brent kwargs) of the two official toys at their first sharpness and budget."""
    from studies.common import AUTO_BATCHES
    from studies.official_ar.cells import _ar_base, _ar_theta_s
    from studies.official_ar.toy import ARToyConfig, ar_fd_metric
    from studies.official_diffusion.cells import _diffusion_base, _diffusion_theta_s
    from studies.official_diffusion.toy import DiffusionToyConfig, diffusion_fd_metric
    from toy_models.diffusion import PosteriorTargetDiffusion
    from toy_models.gmm import official_gaussian

    ar, df = ARToyConfig.preset(preset), DiffusionToyConfig.preset(preset)
    tau, zeta = ar.taus[0], df.zetas[-1]
    ar_model, df_model = _ar_base(preset, seed), _diffusion_base(preset, seed)
    line = {"n_batches": AUTO_BATCHES, "seed": child_seed(seed, "bench-auto")}
    return {
        "official AR toy (FD)": (ar_model, _ar_theta_s(preset, seed, tau, None)[ar.ft_epochs[0]], ar_model, official_gaussian(),
                                 {"n": ar.loss_rows, **line}, {"metric": ar_fd_metric(ar), "bracket": ar.bracket, "xtol": ar.xtol}),
        "official diffusion toy (FD)": (df_model, _diffusion_theta_s(preset, seed, zeta)[df.ft_steps[0]],
                                        PosteriorTargetDiffusion(df_model, official_gaussian()), official_gaussian(),
                                        {"n": df.loss_rows, **line}, {"metric": diffusion_fd_metric(df), "bracket": df.bracket, "xtol": df.xtol}),
    }


def _image_pair(family: str, preset: str, seed: int) -> tuple:
    """The image cell's base, θ_s and held-out rows at the family's mode-seeking setting, and its FID search."""
    from neon_theory.neon import self_train
    from studies.images.cells import IMAGE_PRESETS, ImageCell, _held_out_rows, _image_probe, _metrics
    from studies.images.family import IMAGE_FAMILIES
    from studies.presets import sampler_grid

    neon = IMAGE_FAMILIES[family].neon
    cfg = ImageCell(family=family, preset=preset, sampler=sampler_grid(neon.name, neon.smoke)[0], best_w=True)
    s = IMAGE_PRESETS[preset]
    model = _image_probe(cfg.base(), cfg.preconditioner, seed, 0).model
    S = model.sample(s["n_synthetic"], cfg.spec(), generator(seed, f"image-ft-S/{cfg.stream()}"))
    theta_s = self_train(model, S, steps=s["ft_steps"], lr=s["ft_lr"], batch_size=min(s["batch"], S.shape[0]),
                         generator=generator(seed, f"image-ft/{cfg.stream()}")).state_dict
    return (model, theta_s, model, _held_out_rows(cfg, 0), {"n_batches": s["n_batches"], "seed": child_seed(seed, "image-auto-w")},
            {"metric": _metrics(cfg)[1], "bracket": s["bracket"], "xtol": s["xtol"]})


def _measure(name: str, pair: tuple, repeats: int, seed: int) -> dict:
    model, theta_s, loss_model, real, line, search = pair
    delta = step_displacement(model, theta_s)
    found = {}

    def auto():
        found["auto"] = auto_w(loss_model, real, delta, **line).w

    def brent():
        found["brent"] = brent_best_w(model, theta_s, search["metric"], bracket=search["bracket"], xtol=search["xtol"],
                                      eval_seed=child_seed(seed, "bench-eval")).w

    t = _median_seconds({"auto": auto, "brent": brent}, repeats)
    print(f"{name}: auto {t['auto']:.2f} s, Brent {t['brent']:.2f} s, ratio {t['brent'] / t['auto']:.1f}x "
          f"(auto w {found['auto']:+.3g}, best w on the metric {found['brent']:+.3g})", flush=True)
    return {"family": name, "auto_s": t["auto"], "brent_s": t["brent"], "brent_over_auto": t["brent"] / t["auto"],
            "auto_w": found["auto"], "best_w_metric": found["brent"]}


def main(argv=None) -> int:
    from studies.images.family import IMAGE_FAMILIES
    from studies.presets import PRESETS

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="paper", choices=tuple(PRESETS), help="the official toys' preset")
    ap.add_argument("--image-preset", default="reduced", choices=("smoke", "reduced"), help="the image families' preset")
    ap.add_argument("--families", default=",".join(IMAGE_FAMILIES), help="image families, comma-separated ('' for none)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="results/auto_w_cost")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        raise SystemExit(f"--repeats must be at least 1; got {args.repeats}")
    torch.set_num_threads(args.threads)
    seed = 0
    pairs = _toy_pairs(args.preset, seed)
    for family in filter(None, args.families.split(",")):
        pairs[f"images, {family} ({args.image_preset}, FID)"] = _image_pair(family, args.image_preset, seed)
    rows = [_measure(name, pair, args.repeats, seed) for name, pair in pairs.items()]
    head = (f"# auto w against Brent on the sample metric: toys at preset {args.preset}, images at {args.image_preset}; seed 0; "
            f"median of {args.repeats} alternating repeats after a warm-up, {args.threads} torch threads\n\n")
    table = "| family | auto (s) | Brent (s) | Brent / auto | auto w | best w on the metric |\n|---|---|---|---|---|---|\n" + "".join(
        f"| {r['family']} | {r['auto_s']:.2f} | {r['brent_s']:.2f} | {r['brent_over_auto']:.1f}× | {r['auto_w']:+.3g} | {r['best_w_metric']:+.3g} |\n"
        for r in rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(head + table)
    out.with_suffix(".json").write_text(json.dumps({"preset": args.preset, "image_preset": args.image_preset, "repeats": args.repeats,
                                                    "threads": args.threads, "rows": rows}, indent=2))
    print(head + table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
