"""The image experiment at full size, as one prepared script for a GPU machine (runs on a CPU at smoke size).

It runs the sweeps of the figures ``images-cosine`` and ``images-neon`` on each requested image
set, times every sweep, measures the base models' sampling and training throughput, and writes

* ``<out>/images_<preset>_<data><size>.json``: the timings, throughputs, machine, torch version,
  the sign-agreement table and the per-cell numbers;
* ``<out>/images-cosine_<preset>_<data><size>.png`` and ``images-neon_…png``: the figures.

Check it on the CPU first, then run it once on the GPU::

    .venv/bin/python benchmarks/images_gpu.py --preset smoke --device cpu --sets digits:8 --out /tmp/gpu_check
    .venv/bin/python benchmarks/images_gpu.py --preset paper --device cuda --sets digits:8,patches:32 --out results/gpu

``patches:32`` (3072 tokens an image) is run for the diffusion and flow families only: the pixel
transformer samples one token at a time and is capped at 1,024 tokens (a family's ``max_values``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import sys
import time
from pathlib import Path

import torch


def _sets(text: str) -> list[tuple[str, int]]:
    out = []
    for item in text.split(","):
        name, _, size = item.partition(":")
        if not size.isdigit():
            raise SystemExit(f"--sets: write each set as name:size, e.g. digits:8; got {item!r}")
        out.append((name, int(size)))
    return out


def _throughput(cell, seed: int, n: int) -> dict:
    """Images per second of the base model's sampler and optimiser steps per second of its training recipe."""
    from studies.images import cells as E

    s = E.IMAGE_PRESETS[cell.preset]
    model = E._image_base(cell.base(), seed)
    sync = torch.cuda.synchronize if torch.get_default_device().type == "cuda" else (lambda: None)
    with torch.no_grad(), E._precision(cell.precision):
        model.sample(min(n, 64), cell.spec(), torch.Generator().manual_seed(1))  # warm-up
        sync()
        t = time.perf_counter()
        model.sample(n, cell.spec(), torch.Generator().manual_seed(2))
        sync()
        sampling = n / (time.perf_counter() - t)
    train = E._rows(E._split(cell.data, cell.size, "train"), cell.fam, s)
    from neon_theory.neon import self_train

    t = time.perf_counter()
    steps = 20
    with E._precision(cell.precision):
        self_train(model, train, steps=steps, lr=1e-6, batch_size=min(s["batch"], train.shape[0]), generator=torch.Generator().manual_seed(3))
    sync()
    return {"images_per_s": sampling, "sampled": n, "train_steps_per_s": steps / (time.perf_counter() - t), "batch": s["batch"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="smoke", help="smoke | reduced | paper (default smoke)")
    ap.add_argument("--device", default="auto", help="cpu | cuda | auto (default auto)")
    ap.add_argument("--sets", default="digits:8", help="comma-separated name:size, e.g. digits:8,patches:32 (default digits:8)")
    ap.add_argument("--seeds", default=None, help="e.g. 0-4 (default: the preset's seeds)")
    ap.add_argument("--precision", default="float32", help="float32 | bfloat16 (default float32)")
    ap.add_argument("--store", default="results/store", help="the result store (default results/store)")
    ap.add_argument("--out", default="results/gpu", help="folder for the JSON and the figures (default results/gpu)")
    args = ap.parse_args(argv)

    from neon_theory.device import resolve_device

    device = resolve_device(args.device)
    with device:  # what is created inside defaults to the device: the one idiom of the executors and the CLI
        _measure(args, device)
    return 0


def _measure(args, device) -> None:
    from neon_theory.run import plots
    from neon_theory.run.figures import FIGURES, figure_specs
    from neon_theory.run.store import ResultStore
    from neon_theory.run.sweeps import SweepFailed, failure_summary, run_sweep
    from studies.images import cells as E
    from studies.images import figures as F
    from studies.images.family import IMAGE_FAMILIES
    from studies.presets import sampler_grid

    seeds = None
    if args.seeds:
        lo, _, hi = args.seeds.partition("-")
        seeds = tuple(range(int(lo), int(hi or lo) + 1))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    store = ResultStore(args.store)
    for data, size in _sets(args.sets):
        report = {"preset": args.preset, "data": data, "size": size, "device": str(device), "precision": args.precision,
                  "torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine(),
                  "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None, "sweeps": {}, "throughput": {}}
        frames = {}
        for figure in ("images-cosine", "images-neon"):
            frames[figure] = {}
            for label, spec in figure_specs(figure, args.preset, seeds).items():
                longest = IMAGE_FAMILIES[label.split("/")[0]].max_values
                if longest is not None and math.prod(E.image_shape(data, size)) > longest:
                    continue  # one token at a time: too long to sample
                spec = dataclasses.replace(spec, fixed={**spec.fixed, "data": data, "size": size, "precision": args.precision}, device=str(device))
                t = time.perf_counter()
                df = run_sweep(spec, store, progress=True)
                summary = failure_summary(df)
                if summary is not None:
                    raise SweepFailed(f"{figure}/{label}: {summary}")
                report["sweeps"][f"{figure}/{label}"] = {"jobs": len(df), "seconds": time.perf_counter() - t}
                frames[figure][label] = df
        for family, fam in IMAGE_FAMILIES.items():
            if family in frames["images-neon"]:
                sampler = sampler_grid(fam.neon.name, fam.neon.full)[0]  # the mode-seeking setting
                cell = E.ImageCell(family=family, sampler=sampler, data=data, size=size, preset=args.preset, precision=args.precision)
                report["throughput"][family] = _throughput(cell, (seeds or F.preset_seeds(args.preset))[0], E.IMAGE_PRESETS[args.preset]["n_eval"])
        neon = frames["images-neon"]
        report["sign_agreement"] = F.sign_agreement(neon).to_dict(orient="records")
        report["cells"] = {label: df.drop(columns=[c for c in df if c.endswith("_at_w")]).to_dict(orient="records") for label, df in neon.items()}
        stem = f"{args.preset}_{data}{size}"
        plots.save(FIGURES["images-cosine"].draw(frames["images-cosine"]), out / f"images-cosine_{stem}")
        plots.save(FIGURES["images-neon"].draw(neon), out / f"images-neon_{stem}")
        (out / f"images_{stem}.json").write_text(json.dumps(report, indent=1, default=str))
        print(json.dumps({k: report[k] for k in ("data", "size", "device", "sweeps", "throughput", "sign_agreement")}, indent=1, default=str))


if __name__ == "__main__":
    sys.exit(main())
