"""Image experiments registered with the sweep engine: the Neon theory checked on real images.

``image-cell`` runs one (family, sampler, seed) of Algorithm 1 on a bundled image set
(scikit-learn's digits, scikit-image's faces or photo patches), for each registered image
family (:data:`~studies.images.family.IMAGE_FAMILIES`; the built-in ones in
:mod:`studies.images.families`):

* ``diffusion``: the GroupNorm :class:`~toy_models.images.unet.TimeUNet` as an ε-prediction
  DDPM (cosine schedule), sampled by DDIM (η = 0, x̂₀ clipped to the pixel range [−1, 1]) with
  guidance γ (class-conditional, CFG) and a number of steps (``steps=5+guidance=3``);
* ``flow``: the same UNet as a flow-matching velocity field, sampled by Euler with γ and steps;
* ``pixel-ar``: the causal pixel transformer over quantised pixels, sampled with temperature,
  top-k or top-p (or a chain of them).

The cell reads everything family-specific from the family's
:class:`~studies.images.family.ImageFamily` (its model, data rows, loss-noise copies, samplers):
it never branches on the family's name.

What one cell measures, in order:

1. θ_r: the family's base model trained on the training split (memoised per process).
2. s = ⟨r_d, P r_s⟩ and the P-cosine with jackknife SEs: r_d on the **held-out split**, r_s on
   as many images drawn with the sharpened sampler, with common loss noise (each image carries
   ``noise_draws`` (t, noise) draws, kept in one batch).  P is the Adam-minibatch
   preconditioner as the training optimiser sees it (minibatch = the training batch, one pass
   over the training split per loss-noise draw, without replacement) or the identity.  P is
   estimated on the training split, independently of the held-out rows, and the SEs are
   conditional on it.
3. With ``best_w``: S (``n_synthetic`` images) drawn with the sharpened sampler, θ_s fine-tuned
   on S with Adam (``ft_lr``, ``ft_steps``), and Brent's best w of θ_Neon = θ_r − w(θ_s − θ_r)
   on two metrics, each with common evaluation noise across w: the **held-out loss** (the exact
   denoising / flow-matching loss on fixed noise, or the exact NLL in nats) and the **FID**
   of ``n_eval`` samples from the neutral sampler (γ = 1, T = 1) against the held-out split, in
   the features of the project's own classifier (:mod:`toy_models.images.features`).  The
   predicted w* = −s/(αz) (α = ft_lr × ft_steps, z from a Hessian-vector product on the
   held-out rows), the w* of the realised step Δ = θ_s − θ_r and the FID floor (the held-out
   split against min(n_eval, training split) training images) come with it.
4. With ``w_values``: the held-out loss, FID, and prdc precision and recall (k = 5, features)
   at each w.

The theory predicts sign(best w on the loss) = −sign(s); whether the sign of s also predicts
the best w on FID is the empirical question (on the official diffusion toy it did not).
"""

from __future__ import annotations

import contextlib
import functools
import math
import re
from dataclasses import dataclass
from types import SimpleNamespace

import torch

from neon_theory.checks import check_bool, check_choice, check_int
from neon_theory.device import compile_module
from neon_theory.probe import CosineProbe, Rows, Streams, estimator_stream, report_fields
from neon_theory.rng import child_seed, generator
from neon_theory.rng import draw as draw_fn
from neon_theory.run.experiments import experiment
from neon_theory.sampler_text import SAMPLER_NAMES, parse_sampler, sampler_text
from neon_theory.samplers import Sharpening, Steps, TopK, undefined_at_neutral

from ..common import (
    AUTO_RESULTS,
    MEMOS,
    PROBE_RESULTS,
    auto_record,
    check_ws,
    clean,
    direction_record,
    direction_results,
    per_device,
    random_directions,
    results_of,
    sampler_field,
)
from ..presets import PRESETS
from . import families  # noqa: F401  (registers the built-in families)
from .family import IMAGE_FAMILIES, ImageFamily, parts

#: the bundled image sets and the sizes each comes in
DATASETS = {"digits": (8, 16), "faces": (25,), "patches": (16, 32)}
PRECONDITIONERS = ("adam", "identity")
PRECISIONS = ("float32", "bfloat16")
#: ``torch.compile`` of the network: off, the default code-generating backend, or aot_eager (traces, no code generation: for tests)
COMPILERS = ("off", "inductor", "aot_eager")
_COMMON = dict(bracket=(-2.0, 2.0), heads=4, depth=2)
IMAGE_PRESETS = {
    # CI-sized: seconds per cell on a CPU; under-trained models, nothing is concluded from it
    "smoke": dict(_COMMON, channels=8, width=16, base_steps=60, lr=3e-3, batch=128, n_pop=256, n_batches=8, levels=4, sample_steps=5,
                  noise_draws=2, n_synthetic=256, ft_steps=10, ft_lr=1e-3, n_eval=256, feature_steps=150, xtol=0.05),
    # a CPU-sized run that trains real models (minutes per seed on 2 cores at 8×8)
    "reduced": dict(_COMMON, channels=16, width=32, base_steps=1500, lr=2e-3, batch=128, n_pop=360, n_batches=12, levels=4, sample_steps=10,
                    noise_draws=8, n_synthetic=1024, ft_steps=50, ft_lr=2e-4, n_eval=1000, feature_steps=400, xtol=0.02),
    # the GPU size: wider nets, long training, 10k FID samples (``benchmarks/images_gpu.py --preset paper --device cuda``)
    "paper": dict(_COMMON, channels=32, width=64, base_steps=20000, lr=1e-3, batch=256, n_pop=4096, n_batches=32, levels=8, sample_steps=50,
                  noise_draws=16, n_synthetic=10000, ft_steps=200, ft_lr=1e-4, n_eval=10000, feature_steps=2000, xtol=0.01),
}


def image_shape(data: str, size: int) -> tuple:
    """(C, H, W) of one image of a bundled set (the photo patches are in colour)."""
    return (3 if data == "patches" else 1, size, size)


@dataclass(frozen=True)
class ImageCell:
    """One (family, sampler, seed) on a bundled image set.

    Attributes:
        family (str): a registered image family: ``diffusion`` | ``flow`` | ``pixel-ar`` built in.
        sampler (str): in the text syntax (:mod:`neon_theory.sampler_text`), a sampler the family
            implements: ``guidance=γ`` and ``steps=n`` (diffusion: DDIM, flow: Euler; the part left
            out is filled in, the preset's ``sample_steps`` and γ = 1, and the record keeps the whole
            chain, e.g. ``steps=5,solver=ddim+guidance=3.0``); ``temperature=T``, ``top-k=k``
            (k ≤ the preset's ``levels``) or ``top-p=p`` (pixel-ar), or a chain of them.
        data (str): ``digits`` | ``faces`` | ``patches`` (labels: digit, face/non-face, photograph).
        size (int): image side: digits 8 or 16, faces 25, patches 16 or 32.
        preset (str): ``smoke`` | ``reduced`` | ``paper`` (sizes in ``IMAGE_PRESETS``).
        preconditioner (str): ``adam`` (Adam-minibatch P at the training batch) or ``identity``.
        best_w (bool): also self-train on S and run Brent on the held-out loss and on FID.
        w_values (tuple): w at which to report the held-out loss, FID, precision and recall.
        auto_w (bool): also self-train on S and choose w without a metric search
            (:func:`neon_theory.autow.auto_w` on the held-out rows: the displacement w with its
            interval, and the three-point parabola), with the held-out loss and FID at each.
        directions (bool): also self-train on S and merge along the direction study's arms
            (:data:`neon_theory.directions.DIRECTION_ARMS`: the step, −αP r_s from the probe, one
            full-batch Adam step on S at lr α, two random directions), each scaled to the step's
            norm, with Brent's best w on the held-out loss along each (``dir_*`` fields).
        network (str): ``unet`` (the family's own network: the project's
            :class:`~toy_models.images.unet.TimeUNet`, or the pixel transformer) or, where the family
            takes it (diffusion, flow), ``diffusers`` (a randomly initialised ``diffusers.UNet2DModel`` of
            the same width, through :class:`~toy_models.images.diffusers_unet.DiffusersUNet`; needs the
            diffusers extra).
        compile (str): ``off``, ``inductor`` (``torch.compile`` of the network in place, for the
            GPU) or ``aot_eager`` (the same trace without code generation; for tests).  Hessian-vector
            products run the network eagerly (compiled graphs have no double backward).
        precision (str): ``float32``, or ``bfloat16`` autocast for every forward pass (base
            training, sampling, losses); parameters, gradients and the engine's sums stay float32
            or wider.  Helps on GPUs; on a CPU it is mostly slower.
        estimator_rep (int): in [0, inf); fresh estimator noise for s and the P-cosine (the loss
            noise of the gradients, the synthetic draws of r_s, the Adam minibatches of P, the
            Hessian-vector products) on the same base model; 0 is the standard.  The held-out
            images, the fine-tuning set S and the evaluation noise of the w-search are not redrawn.
        held_out_draw (int): in [0, inf); 0 is the standard held-out set (``n_pop`` test images
            spread evenly over the test split, batched in one fixed random order).  k ≥ 1 draws
            ``n_pop`` test images with replacement (a fresh sample from the test split's empirical
            law, stream k), with fresh loss noise and synthetic draws, on the same base model and
            the same P: the repeats over which s's standard error is checked against its SD (the
            SE is conditional on P, so P is not redrawn).
    """

    family: str = "diffusion"
    sampler: str = "guidance=2.0"
    data: str = "digits"
    size: int = 8
    preset: str = "smoke"
    preconditioner: str = "adam"
    best_w: bool = False
    w_values: tuple = ()
    auto_w: bool = False
    directions: bool = False
    precision: str = "float32"
    network: str = "unet"
    compile: str = "off"
    estimator_rep: int = 0
    held_out_draw: int = 0

    RENAMED = {name: "write sampler: guidance=GAMMA or steps=N (diffusion, flow), temperature=T, top-k=k or top-p=p (pixel-ar)"
               for name in ("knob", "value")}

    def __post_init__(self):
        check_choice("family", self.family, tuple(IMAGE_FAMILIES))
        check_choice("data", self.data, tuple(DATASETS))
        check_choice("size", self.size, DATASETS[self.data])
        check_choice("preset", self.preset, PRESETS)
        check_choice("preconditioner", self.preconditioner, PRECONDITIONERS)
        check_choice("precision", self.precision, PRECISIONS)
        check_choice("compile", self.compile, COMPILERS)
        fam, s = self.fam, IMAGE_PRESETS[self.preset]
        written = self.sampler  # as the user wrote it: sampler_field stores the canonical text (a default solver left out)
        spec = sampler_field(self)  # parsed once, every value checked by its spec
        if not all(isinstance(part, fam.spec_types) for part in parts(spec)):  # refused here, to name the family
            takes = ", ".join(n.name for n in SAMPLER_NAMES.values() if n.spec_type in fam.spec_types)
            raise ValueError(f"the {self.family} family does not implement sampler {self.sampler!r}; it takes {takes}")
        fam.samplers.check(spec)
        vocab = fam.vocab(s)
        for part in parts(spec):
            if isinstance(part, TopK) and vocab is not None and part.k > vocab:  # the one check that needs the vocabulary
                raise ValueError(f"sampler {self.sampler!r}: k must be at most the {vocab} levels of the {self.family} family")
        completed = fam.complete(spec, s)
        solvers = {part.solver for part in parts(completed) if isinstance(part, Steps)}
        for solver in re.findall(r"solver=([a-z]+)", written) if isinstance(written, str) else ():
            if solver not in solvers:  # written explicitly, though it is the parser's default: not silently replaced
                raise ValueError(f"sampler {written!r}: the {self.family} family solves with {', '.join(sorted(solvers))}; got solver={solver}")
        object.__setattr__(self, "sampler", sampler_text(completed))
        if self.network not in fam.networks:
            raise ValueError(f"network={self.network!r} is not a network of the {self.family} family; it takes {', '.join(map(repr, fam.networks))}")
        if self.network == "diffusers":
            if self.size % 2:
                raise ValueError(f"network='diffusers' needs an even image size; got size={self.size}")
            from toy_models.images.diffusers_unet import _diffusers

            _diffusers()  # a clear error now if diffusers is missing
        object.__setattr__(self, "w_values", check_ws("w_values", self.w_values))
        check_int("estimator_rep", self.estimator_rep, lo=0)
        check_int("held_out_draw", self.held_out_draw, lo=0)
        for name in ("best_w", "auto_w", "directions"):
            check_bool(name, getattr(self, name))
        if self.fine_tunes and self.preconditioner != "adam":
            raise ValueError("best_w, w_values, auto_w and directions fine-tune with Adam, whose geometry is preconditioner='adam'; "
                             f"got preconditioner={self.preconditioner!r} (the identity P-cosine needs neither)")
        if fam.max_values is not None and self.tokens > fam.max_values:
            raise ValueError(f"the {self.family} family samples at most {fam.max_values} values an image (one at a time): "
                             f"{self.data} at size {self.size} is {self.tokens} tokens; use a smaller size")

    @property
    def fine_tunes(self) -> bool:
        """Whether the cell self-trains on S (anything beyond s and the P-cosine)."""
        return bool(self.best_w or self.w_values or self.auto_w or self.directions)

    @property
    def fam(self) -> ImageFamily:
        """The family's adapter."""
        return IMAGE_FAMILIES[self.family]

    @property
    def shape(self) -> tuple:
        """(C, H, W) of one image."""
        return image_shape(self.data, self.size)

    @property
    def tokens(self) -> int:
        return math.prod(self.shape)

    def spec(self):
        """The sharpened sampler κ of this cell (the completed chain)."""
        return parse_sampler(self.sampler)

    def neutral_sampler(self):
        """The sampler FID is measured with (the family's: γ = 1 at the preset's steps; T = 1)."""
        return self.fam.neutral(IMAGE_PRESETS[self.preset])

    def stream(self) -> str:
        """The name of the synthetic draws' streams: the family's name of the sampler, as it was
        when the cell had ``knob`` and ``value`` (``guidance/3.0``, ``steps/8``, ``top_k/2``), so
        records at the same seeds stay the same."""
        return self.fam.stream(self.spec())

    def base(self) -> "ImageBase":
        """What the base model θ_r depends on (the memo key, with the seed)."""
        return ImageBase(self.family, self.network, self.data, self.size, self.preset, self.precision, self.compile)

    def sharpening(self) -> str:
        return self.spec().sharpening(self.fam.vocab(IMAGE_PRESETS[self.preset])).value


@dataclass(frozen=True)
class ImageBase:
    """The fields of an :class:`ImageCell` that decide its base model (hashable: a memo key)."""

    family: str
    network: str
    data: str
    size: int
    preset: str
    precision: str
    compile: str

    @property
    def fam(self) -> ImageFamily:
        return IMAGE_FAMILIES[self.family]


def _precision(name: str):
    """bfloat16 autocast on the default device (the sweep's device), or nothing."""
    if name == "float32":
        return contextlib.nullcontext()
    return torch.autocast(torch.get_default_device().type, dtype=torch.bfloat16)


@functools.lru_cache(maxsize=16)
def _split(data: str, size: int, split: str):
    """One split of a bundled set, loaded once per process (a cell reads both splits several times;
    callers index or copy the tensors and never write to them)."""
    from toy_models.images.data import load

    return load(data, split, size)


MEMOS.append(_split)  # cleared with the per-device memos by studies.common.clear_caches


def _rows(images, family: ImageFamily, s: dict) -> torch.Tensor:
    """An image split as the family's data rows: its values (flat pixels, tokens), then the label column."""
    values = family.encode(images.images, s)
    return torch.cat([values.to(torch.float32), images.labels[:, None].to(torch.float32)], 1)


def rows_to_images(rows: torch.Tensor, family: ImageFamily, shape: tuple, s: dict) -> torch.Tensor:
    """A family's data rows (its values, then the label column) → images (n, C, H, W) in [-1, 1]."""
    return family.decode(rows[:, : math.prod(shape)], shape, s)


def _build(family: ImageFamily, network: str, train, s: dict, seed: int):
    """The family's untrained model; its initialisation is seeded by (seed, family name)."""
    init = child_seed(seed, f"image-init/{family.name}")
    torch.manual_seed(init)
    return family.build(train, s, network, init)


@per_device(8)
def _image_base(b: ImageBase, seed: int):
    from neon_theory.neon import fit

    s = IMAGE_PRESETS[b.preset]
    train = _split(b.data, b.size, "train")
    model = _build(b.fam, b.network, train, s, seed)
    if b.compile != "off":  # in place, so the state dict keeps its names; the engine's working copies are compiled again
        compile_module(model.module, backend=b.compile)
    with _precision(b.precision):
        fit(model, _rows(train, b.fam, s), steps=s["base_steps"], lr=s["lr"], batch_size=min(s["batch"], len(train)),
            generator=generator(seed, f"image-base/{b.family}"))
    return model


def _evenly(data, n: int):
    """``n`` images spread evenly over a split (the photo patches are stored photograph by photograph)."""
    from toy_models.images.data import ImageData

    n = min(n, len(data))
    keep = torch.arange(n) * len(data) // n
    return ImageData(data.images[keep], data.labels[keep], data.name, data.num_classes)


def _held_out_rows(b, draw: int = 0) -> torch.Tensor:
    """The held-out images as data rows of a cell or base ``b``, each repeated for its loss-noise
    copies (``repeat_interleave``: an image's copies stay together).

    ``draw`` 0: at most ``n_pop`` test images spread evenly over the split, in one fixed random
    order.  The order matters to the standard errors, which batch the rows: the test split is
    stored in file order (digits by writer, patches by photograph), and batches of neighbours
    vary more than batches of exchangeable rows, so batch means in file order overstate or
    understate the SE.  ``draw`` k ≥ 1: ``n_pop`` test images drawn with replacement (stream k),
    independent rows from the split's empirical law, for checking the SE against the SD over draws.
    """
    s = IMAGE_PRESETS[b.preset]
    test = _split(b.data, b.size, "test")
    if draw == 0:
        chosen = _evenly(test, s["n_pop"])
        order = draw_fn(torch.randperm, len(chosen), generator=generator(0, f"image-held-out-order/{b.data}{b.size}"), device=chosen.images.device)
    else:
        chosen = test
        order = draw_fn(torch.randint, 0, len(test), (min(s["n_pop"], len(test)),),
                        generator=generator(0, f"image-held-out-draw/{b.data}{b.size}/{draw}"), device=test.images.device)
    from toy_models.images.data import ImageData

    chosen = ImageData(chosen.images[order], chosen.labels[order], chosen.name, chosen.num_classes)
    return _rows(chosen, b.fam, s).repeat_interleave(b.fam.copies(s), dim=0)


def _batch_edges(n_images: int, n_batches: int, copies: int) -> tuple:
    """Equal batches of whole images (each image's ``copies`` rows kept together), in rows."""
    k = min(n_batches, n_images)
    return tuple(copies * (i * n_images // k) for i in range(k + 1))


@per_device(4)
def _image_preconditioner(b: ImageBase, preconditioner: str, seed: int, rep: int):
    """P of one base model: Adam-minibatch on the training split (estimator noise ``rep``), or the identity."""
    from neon_theory.preconditioners import Walk, adam_minibatch, identity

    if preconditioner != "adam":
        return identity()
    s = IMAGE_PRESETS[b.preset]
    streams = Streams(seed, rep)
    train = _rows(_split(b.data, b.size, "train"), b.fam, s)
    with _precision(b.precision):
        return adam_minibatch(
            _image_base(b, seed), train, Walk(min(s["batch"], train.shape[0]), passes=b.fam.copies(s)), generator=streams.generator("image-adam"),
            noise_generator=streams.generator("image-adam-noise"),
        )


@per_device(8)
def _image_probe(b: ImageBase, preconditioner: str, seed: int, rep: int, draw: int = 0):
    """The P-cosine probe of one base model: r_d on the held-out rows and P computed once; r_s per sampler.
    A held-out ``draw`` k ≥ 1 redraws the held-out rows, the loss noise and the synthetic draws (their
    streams are renamed), and keeps P (estimated on the training split with the streams of ``rep``)."""
    s = IMAGE_PRESETS[b.preset]
    model = _image_base(b, seed)
    P = _image_preconditioner(b, preconditioner, seed, rep)
    streams = Streams(seed if draw == 0 else child_seed(seed, f"image-held-out-draw/{draw}"), rep)
    copies = b.fam.copies(s)
    real = _held_out_rows(b, draw)
    with _precision(b.precision):
        n_images = real.shape[0] // copies

        def synthetic_of(cell: ImageCell):  # called under the cell's precision
            S = model.sample(n_images, cell.spec(), streams.generator(f"image-S/{cell.stream()}"))
            return S.repeat_interleave(copies, dim=0)

        sizes = SimpleNamespace(n_batches=s["n_batches"], grad_batch=s["batch"] * copies)
        edges = _batch_edges(n_images, s["n_batches"], copies)
        return CosineProbe(model, real, synthetic_of, P, sizes=sizes, streams=streams, name="cell", rows=Rows(edges))


#: bootstrap resamples behind every FID standard error
FID_BOOTSTRAP = 200


def _feature_halves(train, seed: int = 0):
    """The training split cut in two fixed random halves: the feature network's images, and the
    floor's.  Neither the held-out reference nor the floor's images are seen by the network: a
    classifier maps its own training images more tightly than unseen ones, and that train/test
    shift would enter the floor (on digits, training vs held-out images scored 3.1 where two
    random halves of unseen images score 0.8)."""
    from toy_models.images.data import ImageData

    order = draw_fn(torch.randperm, len(train), generator=generator(seed, "feature-net-split"), device=train.images.device)
    half = len(train) // 2

    def part(idx):
        return ImageData(train.images[idx], train.labels[idx], train.name, train.num_classes)

    return part(order[:half]), part(order[half:])


@per_device(4)
def _feature_reference(data: str, size: int, preset: str, family_levels: int):
    """The feature network, the held-out reference features and the FID floor with its SE.

    The network (seed 0) is trained on one fixed half of the training split (:func:`_feature_halves`).
    The reference is the whole test split.  The floor is the FID of min(n_eval, the other half)
    real training images, which the network never saw, against that reference: what two disjoint
    real samples alone reach.  FID is biased upward by about tr(Σ)/n in the sample sizes, so the
    floor is on the model's scale only where its n equals n_eval (digits: 718 images; where
    n_eval is larger the floor is an upper bound).  ``family_levels``: 0 for pixel-space families,
    else the quantisation levels (the reference is quantised too, so FID measures the model and
    not the quantiser).

    Returns:
        (net, reference features, floor, floor SE (bootstrap over the floor's images), floor n).
    """
    from toy_models.images.features import extract, fid, fid_bootstrap_se, train_feature_net
    from toy_models.images.pixel_ar import dequantise, quantise

    s = IMAGE_PRESETS[preset]
    train, test = _split(data, size, "train"), _split(data, size, "test")
    seen, unseen = _feature_halves(train)
    net = train_feature_net(seen, steps=s["feature_steps"], seed=0)  # on the default device (the job's)
    device = torch.get_default_device()

    def as_seen(x):
        return dequantise(quantise(x, family_levels), tuple(x.shape[1:]), family_levels) if family_levels else x

    ref = extract(net, as_seen(test.images).to(device))
    floor_set = _evenly(unseen, s["n_eval"])
    floor_features = extract(net, as_seen(floor_set.images).to(device))
    floor_se = fid_bootstrap_se(ref, floor_features, resamples=FID_BOOTSTRAP, generator=generator(0, "fid-floor-bootstrap"))
    return net, ref, fid(ref, floor_features), floor_se, len(floor_set)


def _feature_levels(cell: ImageCell) -> int:
    """The quantisation the FID reference goes through: the family's vocabulary (the pixel
    transformer's levels), else 0 (none)."""
    return cell.fam.vocab(IMAGE_PRESETS[cell.preset]) or 0


def _metrics(cell: ImageCell, log: list | None = None, features: list | None = None):
    """(held-out loss metric, FID metric) for :func:`~neon_theory.neon.brent_best_w` / :func:`w_sweep`;
    with ``log``, the FID metric appends (precision, recall) of its samples (prdc, k = 5, on as
    many generated images as the reference holds: prdc depends on the ratio of the set sizes);
    with ``features``, it appends each evaluation's generated features (``None`` for a diverged merge)."""
    from neon_theory.metrics import precision_recall
    from neon_theory.params import trainable_named_parameters
    from toy_models.images.features import extract, fid

    s = IMAGE_PRESETS[cell.preset]
    copies = cell.fam.copies(s)
    real = _held_out_rows(cell, cell.held_out_draw)

    def held_out_loss(model, g, grad: bool = False):
        """The mean loss over the held-out rows; with ``grad``, (loss, its gradient as a float64 vector) at the same noise."""
        params = [p for _, p in trainable_named_parameters(model.module)]
        total, flat = 0.0, 0.0
        with torch.set_grad_enabled(grad), _precision(cell.precision):
            for i in range(0, real.shape[0], s["batch"] * copies):  # chunks of whole images; the noise is one stream
                x = real[i : i + s["batch"] * copies]
                loss = model.per_example_loss(x, model.draw_noise(x.shape[0], g)).double().sum()
                total += float(loss.detach())
                if grad:
                    flat = flat + torch.cat([d.reshape(-1).double() for d in torch.autograd.grad(loss, params)])
        return total / real.shape[0] if not grad else (total / real.shape[0], flat / real.shape[0])

    def fid_metric(model, g):
        with torch.no_grad(), _precision(cell.precision):
            rows = model.sample(s["n_eval"], cell.neutral_sampler(), g)
        if not bool(torch.isfinite(rows).all()):  # before rows_to_images clamps ±inf to ±1
            if log is not None:
                log.append((math.nan, math.nan))
            if features is not None:
                features.append(None)
            return 1e6  # a diverged merge: worse than anything finite
        net, ref = _feature_reference(cell.data, cell.size, cell.preset, _feature_levels(cell))[:2]  # memoised
        feats = extract(net, rows_to_images(rows.float(), cell.fam, cell.shape, s))
        if features is not None:
            features.append(feats)
        if log is not None:
            log.append(precision_recall(ref, feats[: ref.shape[0]]))
        return fid(ref, feats)

    return held_out_loss, fid_metric


def _displacement(model, theta_s, r_d, P_r_s, hessian) -> dict:
    """What the fine-tuning step Δ = θ_s − θ_r itself predicts (:func:`~neon_theory.neon.displacement_w_star`),
    and ``displacement_cosine`` = cos(Δ, −P r_s): how closely Δ follows Thm B.1's direction."""
    from neon_theory.neon import displacement_w_star, step_displacement

    delta = step_displacement(model, theta_s)
    cos = float(-(delta @ P_r_s) / (delta.norm() * P_r_s.norm()))
    return {"w_star_displacement": displacement_w_star(r_d, delta, hessian(delta)), "displacement_cosine": cos, "displacement_norm": float(delta.norm())}


def _fid_errors(cfg: ImageCell, best, generated: list) -> dict:
    """The FID floor with its SE, the bootstrap SEs of the FID at the base and at the best w, and
    the base's FID on as many samples as the floor has (``base_fid_at_floor_n``: FID is biased
    upward by about tr(Σ)/n, so only that one compares with the floor).  ``generated`` holds the
    features of every evaluation of Brent's search ``best``, in order: its history, then the base (w = 0)."""
    from toy_models.images.features import fid, fid_bootstrap_se

    _, ref, floor, floor_se, n_floor = _feature_reference(cfg.data, cfg.size, cfg.preset, _feature_levels(cfg))
    at_best = next(i for i, (w, v) in enumerate(best.history) if w == best.w and v == best.value)

    def se(feats):
        if feats is None:  # a diverged merge has no FID to resample
            return None
        return fid_bootstrap_se(ref, feats, resamples=FID_BOOTSTRAP, generator=generator(0, "fid-bootstrap"))

    base = generated[-1]
    at_floor_n = None if base is None else fid(ref, base[:n_floor])  # the samples are exchangeable: the first n_floor are a random subset
    return dict(fid_floor=floor, fid_floor_se=floor_se, fid_floor_n=n_floor, n_eval=IMAGE_PRESETS[cfg.preset]["n_eval"],
                base_fid_se=se(base), best_fid_se=se(generated[at_best]), base_fid_at_floor_n=at_floor_n)


#: the merge weights |w| at which the first-order prediction of the held-out loss is checked
DOMAIN_WS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 2.0)
#: the first-order prediction counts as holding where it is within this share of the loss change
DOMAIN_TOLERANCE = 0.1
#: loss changes below this share of the loss are not resolved by a float32 evaluation (about 100 float32 epsilons)
RESOLUTION = 1e-5


def _first_order_domain(model, directions: dict, held_out_loss, eval_seed: int) -> dict:
    """How far in w the first-order prediction of the held-out loss holds, per direction.

    For θ(w) = θ_r − w·d (``d`` = Δ = θ_s − θ_r, the realised step, or −αP r_s, Thm B.1's
    step), the loss change L(θ(w)) − L(θ_r) is compared with its first-order prediction
    ⟨g, θ(w) − θ_r⟩, g the gradient of the same held-out loss at the same evaluation noise (so the
    comparison measures curvature, not estimator noise), and θ(w) − θ_r as the float32
    parameters actually moved.  ``first_order_w_<name>`` is the largest |w| of :data:`DOMAIN_WS`
    such that at every resolved grid |w'| ≤ |w|, both signs, the two agree within
    :data:`DOMAIN_TOLERANCE` of the prediction (0 when the smallest resolved one fails; a |w'| whose
    predicted change is below :data:`RESOLUTION` of the loss is not resolved and is skipped);
    ``first_order_resolved_<name>`` is the smallest resolved |w| (None: none was).
    """
    from neon_theory.neon import working_copy
    from neon_theory.params import parameter_vector, set_parameter_vector

    base, g = held_out_loss(model, torch.Generator().manual_seed(eval_seed), grad=True)
    theta = parameter_vector(model.module)
    work = working_copy(model)
    out = {}
    for name, d in directions.items():
        reach, resolved = 0.0, None
        for w in DOMAIN_WS:
            ok, seen = True, False
            for signed in (w, -w):
                set_parameter_vector(work.module, theta - signed * d)
                predicted = float(g @ (parameter_vector(work.module) - theta))
                if abs(predicted) < RESOLUTION * abs(base):
                    continue
                seen = True
                change = held_out_loss(work, torch.Generator().manual_seed(eval_seed)) - base
                ok &= abs(change - predicted) <= DOMAIN_TOLERANCE * abs(predicted)
            if not seen:
                continue
            resolved = w if resolved is None else resolved
            if not ok:
                break
            reach = w
        out[f"first_order_w_{name}"] = reach
        out[f"first_order_resolved_{name}"] = resolved
    return out


def _auto_fields(cfg: ImageCell, model, theta_s, metrics: tuple, seed: int, eval_seed: int) -> dict:
    """w chosen without a metric search on the held-out rows (both :mod:`neon_theory.autow` variants, one
    row stream), and the held-out loss and FID at each (the w-search's evaluation noise)."""
    line = {"n_batches": IMAGE_PRESETS[cfg.preset]["n_batches"], "seed": seed}
    on = {name: (metric, eval_seed) for name, metric in zip(SEARCHED, metrics)}
    return auto_record(model, theta_s, _held_out_rows(cfg, cfg.held_out_draw), on, line, precision=lambda: _precision(cfg.precision))


def _direction_fields(cfg: ImageCell, model, theta_s, fine_tune: tuple, held_out_loss, seeds: tuple) -> dict:
    """The direction study's arms (:func:`studies.common.direction_record`) on the held-out loss: the step,
    −αP r_s, one full-batch Adam step on S at lr α, and two random directions; ``fine_tune`` = (S, α, P r_s, the rows
    r_s was estimated on).
    Only the loss: the FID of five searches a cell is what the image arm cannot afford on a CPU."""
    from neon_theory.directions import one_step_direction
    from neon_theory.neon import step_displacement

    S, alpha, P_r_s, rows = fine_tune
    seed, eval_seed = seeds
    s = IMAGE_PRESETS[cfg.preset]
    step = step_displacement(model, theta_s)
    directions = {"step": step, "first-order": -alpha * P_r_s.to(step),
                  "one-step": one_step_direction(model, S, alpha, optimizer="adam", generator=generator(seed, f"image-dir-one-step/{cfg.stream()}")),
                  **random_directions(step, seed, f"image-dir-random/{cfg.stream()}")}
    compute = {"step": s["ft_steps"] * min(s["batch"], S.shape[0]), "first-order": rows, "one-step": S.shape[0]}
    return direction_record(model, directions, {"loss": (held_out_loss, eval_seed)}, {"loss": (s["bracket"], s["xtol"])}, compute)


#: the two metrics image-cell searches w on, as named in its result fields
SEARCHED = {"loss": "the held-out loss", "fid": "FID against the held-out images"}


@experiment("image-cell", config=ImageCell, results=results_of(
    *PROBE_RESULTS, *AUTO_RESULTS, "sharpening", "alpha", "z", "w_star", "w_star_se", "w_star_displacement", "precision_at_w", "recall_at_w",
    held_out_loss="the base model's loss on the held-out images (its evaluation noise fixed per seed)",
    displacement_cosine="cos(theta_s - theta_r, -P r_s): how closely the fine-tuning step follows the Neon direction",
    displacement_norm="|theta_s - theta_r|, the length of the fine-tuning step",
    **{k: v for m, what in SEARCHED.items() for k, v in {
        f"best_w_{m}": f"Brent's best merge weight w on {what}",
        f"best_{m}": f"{what} at that w",
        f"base_{m}": f"{what} of the base model (w = 0)",
        f"gain_{m}": f"{what} of the base minus that at the best w: positive when the best w improves on the base",
        f"at_boundary_{m}": "true when that w lies at an edge of the search bracket",
    }.items()},
    fid_floor="FID of real training images that the feature net never saw against the reference (the test split): the floor finite samples alone reach",
    fid_floor_se="the standard error of the floor (bootstrap over its images)",
    fid_floor_n="images in that floor's estimate",
    base_fid_se="the standard error of base_fid (bootstrap over the generated images; the reference held fixed)",
    base_fid_at_floor_n="the base's FID on its first fid_floor_n samples: the one FID of the base that compares with the floor",
    best_fid_se="the standard error of best_fid (bootstrap over the generated images; the reference held fixed)",
    n_eval="samples each FID is computed on",
    loss_at_w="the held-out loss at each of w_values",
    loss_at_auto="the held-out loss at auto_w (the w-search's evaluation noise)",
    fid_at_auto="FID at auto_w",
    loss_at_auto_three_point="the held-out loss at auto_w_three_point",
    fid_at_auto_three_point="FID at auto_w_three_point",
    fid_at_w="FID at each of w_values",
    first_order_w_step="the largest |w| at which the held-out loss along the realised step follows its first-order prediction within 10%",
    first_order_w_neon="the same along Thm B.1's step -alpha P r_s",
    first_order_resolved_step="the smallest |w| at which a float32 loss resolves the change along the step (the domain's lower end)",
    first_order_resolved_neon="the same along -alpha P r_s",
    **direction_results({"loss": "the held-out loss"}),
))
def image_cell(cfg: ImageCell, seed: int) -> dict:
    from neon_theory.gradients import hessian_vector_product
    from neon_theory.neon import brent_best_w, self_train, w_sweep

    s = IMAGE_PRESETS[cfg.preset]
    probe = _image_probe(cfg.base(), cfg.preconditioner, seed, cfg.estimator_rep, cfg.held_out_draw)
    model = probe.model
    held_out_loss, fid_metric = _metrics(cfg)
    eval_seed = child_seed(seed, "image-eval")  # one evaluation stream per seed: common across w and across sampler settings
    out = {"sharpening": cfg.sharpening(), "held_out_loss": held_out_loss(model, torch.Generator().manual_seed(eval_seed))}
    neutral = out["sharpening"] == Sharpening.NEUTRAL.value  # s, the cosine and w* are None there
    if not cfg.fine_tunes:
        with _precision(cfg.precision):
            rep = probe.report(cfg)
        return clean(undefined_at_neutral({**out, **report_fields(rep)}, neutral))
    alpha = s["ft_lr"] * s["ft_steps"]
    hvp_noise = child_seed(seed, estimator_stream("image-hvp-noise", cfg.estimator_rep))

    def hessian(v):
        with _precision(cfg.precision):
            return hessian_vector_product(model, probe.real, v, noise_generator=torch.Generator().manual_seed(hvp_noise), chunk_size=s["batch"])

    with _precision(cfg.precision):
        synthetic = probe.synthetic_estimate(cfg)
        rep = probe.report(cfg, synthetic, alpha=alpha, hessian=hessian)
        S = model.sample(s["n_synthetic"], cfg.spec(), generator(seed, f"image-ft-S/{cfg.stream()}"))
        theta_s = self_train(model, S, steps=s["ft_steps"], lr=s["ft_lr"], batch_size=min(s["batch"], S.shape[0]),
                             generator=generator(seed, f"image-ft/{cfg.stream()}")).state_dict
        out.update(report_fields(rep), alpha=alpha, z=rep.z, w_star=rep.w_star, w_star_se=rep.w_star_se,
                   **_displacement(model, theta_s, probe.real_est.mean, probe.P.apply(synthetic.mean), hessian))
        if cfg.best_w:
            from neon_theory.neon import step_displacement

            directions = {"step": step_displacement(model, theta_s), "neon": -alpha * probe.P.apply(synthetic.mean).double()}
            out.update(_first_order_domain(model, directions, held_out_loss, eval_seed))
        if cfg.directions:
            out.update(_direction_fields(cfg, model, theta_s, (S, alpha, probe.P.apply(synthetic.mean), probe.real.shape[0]), held_out_loss,
                                          (seed, eval_seed)))
    if cfg.best_w:
        generated: list = []
        fid_logged = _metrics(cfg, features=generated)[1]
        searches = {}
        for name, metric in (("loss", held_out_loss), ("fid", fid_logged)):
            searches[name] = best = brent_best_w(model, theta_s, metric, bracket=s["bracket"], xtol=s["xtol"], eval_seed=eval_seed)
            out.update({f"best_w_{name}": best.w, f"best_{name}": best.value, f"base_{name}": best.base_value,
                        f"gain_{name}": best.gain, f"at_boundary_{name}": best.at_boundary})
        out.update(_fid_errors(cfg, searches["fid"], generated))
    if cfg.auto_w:
        out.update(_auto_fields(cfg, model, theta_s, (held_out_loss, fid_metric), child_seed(seed, "image-auto-w"), eval_seed))
    if cfg.w_values:
        log: list = []
        logged_fid = _metrics(cfg, log)[1]
        out["loss_at_w"] = list(w_sweep(model, theta_s, cfg.w_values, held_out_loss, eval_seed=eval_seed).values)
        out["fid_at_w"] = list(w_sweep(model, theta_s, cfg.w_values, logged_fid, eval_seed=eval_seed).values)
        out["precision_at_w"] = [p for p, _ in log]
        out["recall_at_w"] = [r for _, r in log]
    return clean(undefined_at_neutral(out, neutral))
