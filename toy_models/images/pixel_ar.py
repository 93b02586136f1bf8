"""Token AR over quantised pixels: a small causal transformer, the image analogue of the paper's VAR/xAR models.

Images in [-1, 1] are quantised to ``levels`` grey (or colour-channel) levels and read in
raster order, channel last, as a sequence of L = H·W·C tokens (:func:`quantise`).  The model
is p_θ(x) = Π_i p_θ(x_i | x_<i) with a start token that carries the class for conditional
models, so its loss is the exact negative log-likelihood of an image in nats, and the
held-out population loss is an average of exact per-image NLLs.

Sampling reads the tokens one at a time and applies the categorical samplers (temperature,
top-k, top-p, or a chain of them) to every next-token distribution, through the same
registry as the exact token models (``categorical_logits``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from neon_theory.checks import check_draw, check_int, check_tensor
from neon_theory.rng import multinomial
from neon_theory.samplers import SamplerSpec, categorical_logits

from .._conditional import class_law


def quantise(images: Tensor, levels: int) -> Tensor:
    """Images (N, C, H, W) in [-1, 1] → tokens (N, H·W·C) in [0, levels), raster order, channel last."""
    check_int("levels", levels, lo=2, hi=256)
    check_tensor("images", images, ndim=4)
    q = ((images.clamp(-1, 1) + 1) / 2 * (levels - 1)).round().long()
    return q.permute(0, 2, 3, 1).reshape(images.shape[0], -1)


def dequantise(tokens: Tensor, shape: tuple, levels: int) -> Tensor:
    """Tokens (N, H·W·C) → images (N, C, H, W) in [-1, 1] at the centres of the levels."""
    C, H, W = shape
    x = tokens.reshape(tokens.shape[0], H, W, C).permute(0, 3, 1, 2).to(torch.float32)
    return x / (levels - 1) * 2 - 1


class PixelTransformer(nn.Module):
    """A causal transformer over L tokens of a vocabulary of ``levels`` (pre-norm, GELU, no dropout).

    Args:
        length (int): L, the tokens per image.
        levels (int): the vocabulary size.
        width (int): model width; heads (int): attention heads (dividing ``width``); depth (int): blocks.
        num_classes (int): 0 (unconditional) or the number of classes (the start token carries the class).
    """

    def __init__(self, length: int, levels: int, width: int = 64, heads: int = 4, depth: int = 2, num_classes: int = 0):
        super().__init__()
        self.length, self.levels = check_int("length", length, lo=1), check_int("levels", levels, lo=2)
        self.num_classes = check_int("num_classes", num_classes, lo=0)
        check_int("width", width, lo=1)
        if check_int("heads", heads, lo=1) and width % heads:
            raise ValueError(f"heads must divide width={width}; got {heads}")
        self.token = nn.Embedding(levels + max(num_classes, 1), width)  # pixel tokens, then the start tokens
        self.position = nn.Parameter(torch.zeros(length, width))
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, check_int("depth", depth, lo=1), enable_nested_tensor=False)
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, levels))
        self.register_buffer("mask", torch.triu(torch.full((length, length), float("-inf")), 1), persistent=False)

    def forward(self, tokens: Tensor, labels: Tensor | None = None) -> Tensor:
        """tokens (n, m) with m ≤ L, labels (n,) or None → next-token logits (n, m, levels):
        row i holds the logits of token i given tokens 0..i−1 (and the class)."""
        n, m = tokens.shape
        start = self.levels + (torch.zeros(n, dtype=torch.long, device=tokens.device) if labels is None else labels)
        inputs = torch.cat([start[:, None], tokens[:, : m - 1]], 1)  # shifted right: row i sees tokens < i
        h = self.token(inputs) + self.position[:m]
        return self.head(self.blocks(h, mask=self.mask[:m, :m], is_causal=True))


class PixelARModel:
    """The pixel transformer on the GenerativeModel contract.

    Data are token rows (n, L), or (n, L + 1) with the class label in the last column for
    conditional models; the loss is the exact NLL of each image in nats (no loss noise).
    """

    def __init__(self, module: PixelTransformer, class_probs: Tensor | None = None):
        if not isinstance(module, PixelTransformer):
            raise ValueError(f"module must be a PixelTransformer; got {type(module).__name__}")
        self.module = module
        self.length, self.levels, self.num_classes = module.length, module.levels, module.num_classes
        if self.num_classes:
            self.class_probs = class_law(self.num_classes, class_probs)

    @property
    def device(self) -> torch.device:
        return self.module.position.device

    def split(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """Tokens (n, L) and labels (n,) or None, on θ's device; a ValueError for anything out of range."""
        x = check_tensor("x", x, shape=(None, self.length + (1 if self.num_classes else 0))).to(self.device)
        if x.is_floating_point():
            x = x.round().long()
        tokens, labels = (x[:, : self.length], x[:, self.length]) if self.num_classes else (x, None)
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.levels):
            raise ValueError(f"x must hold tokens in [0, {self.levels})")
        return tokens, labels

    def draw_noise(self, n: int, generator: torch.Generator) -> None:
        check_draw(n, generator)
        return None  # a likelihood model: the loss has no noise

    def per_example_loss(self, x: Tensor, noise=None) -> Tensor:
        """−log p_θ(x) in nats, shape (n,)."""
        tokens, labels = self.split(x)
        logp = self.module(tokens, labels).log_softmax(-1)
        return -logp.gather(-1, tokens[..., None])[..., 0].sum(-1)

    @torch.no_grad()
    def sample(self, n: int, sampler: SamplerSpec | None, generator: torch.Generator) -> Tensor:
        """n images as token rows (n, L) (with the label column for conditional models), one token at a time."""
        check_draw(n, generator)
        labels = multinomial(self.class_probs, n, generator=generator, replacement=True, device=self.device) if self.num_classes else None
        tokens = torch.zeros(n, 0, dtype=torch.long, device=self.device)
        for i in range(self.length):
            step = torch.cat([tokens, tokens.new_zeros(n, 1)], 1)  # the new slot is only an input to later rows
            probs = categorical_logits(self.module(step, labels)[:, i].double(), sampler).softmax(-1)
            tokens = torch.cat([tokens, multinomial(probs, 1, generator=generator)], 1)
        return tokens if labels is None else torch.cat([tokens, labels[:, None]], 1)
