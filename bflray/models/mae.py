"""Masked autoencoder (MAE) for 28×28 images, as Proof of Reasoning uses it.

He et al. (2022), "Masked autoencoders are scalable vision learners": the image is cut into
patches, a high ratio μ_r of them is masked, the encoder (ViT blocks) sees only the visible
patches, and a light decoder reconstructs the masked ones from the encodings plus a
learnable mask token; the loss is taken on masked patches only.

Calo & Lo, "Proof of Reasoning …" (PoR paper, Sec. III-B) keep the masking at inference: the
encoder returns only the encodings κ of the unmasked patches, which is what the downstream
classifier sees and what an EDI transaction publishes. Two variants from the paper:

- loss: mean squared error on masked patches (``"mse"``, MAE's and the paper's choice) or mean
  absolute error (``"mae"``, which the paper found worse downstream, Table III);
- masking: uniformly random (``"uniform"``) or "random masking with a normal distribution"
  (``"normal"``). The text does not say what is normally distributed; since the argsort of any
  i.i.d. noise is a uniform permutation, we read it as a spatial prior: patches are kept with
  probability weighted by a 2-D Gaussian centred on the image (standard deviation
  ``normal_sigma`` × image side), sampled without replacement (Gumbel top-k). Medical images
  keep their anatomy near the centre, so this keeps the informative patches more often.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

MaskingKind = Literal["uniform", "normal"]
LossKind = Literal["mse", "mae"]


@dataclass(frozen=True)
class MAESpec:
    """Sizes of the MAE; defaults fit a CPU (the paper's Edi-Encoder is 1 head, width 1280, 2 layers)."""

    image_size: int = 28
    channels: int = 1
    patch_size: int = 4
    width: int = 64
    depth: int = 2
    heads: int = 2
    decoder_width: int = 32
    decoder_depth: int = 1
    decoder_heads: int = 1
    mask_ratio: float = 0.75
    masking: MaskingKind = "uniform"
    normal_sigma: float = 0.35
    loss: LossKind = "mse"

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise ValueError(f"patch_size={self.patch_size} must divide image_size={self.image_size}")
        if self.width % self.heads or self.decoder_width % self.decoder_heads:
            raise ValueError(
                f"width={self.width} must be divisible by heads={self.heads} and decoder_width="
                f"{self.decoder_width} by decoder_heads={self.decoder_heads}"
            )
        if not 0.0 <= self.mask_ratio < 1.0:
            raise ValueError(f"mask_ratio={self.mask_ratio} must be in [0, 1)")
        if self.visible_patches < 1:
            raise ValueError(f"mask_ratio={self.mask_ratio} leaves no visible patch of {self.num_patches}")

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid * self.grid

    @property
    def patch_dim(self) -> int:
        return self.channels * self.patch_size * self.patch_size

    @property
    def visible_patches(self) -> int:
        """K: patches the encoder sees (and κ holds) per image."""
        return self.num_patches - int(round(self.mask_ratio * self.num_patches))


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """``B × C × H × W`` images → ``B × P × (C·p·p)`` patches, row-major over the grid."""
    b, c, h, w = images.shape
    g_h, g_w = h // patch_size, w // patch_size
    x = images.reshape(b, c, g_h, patch_size, g_w, patch_size)
    return x.permute(0, 2, 4, 1, 3, 5).reshape(b, g_h * g_w, c * patch_size * patch_size)


def sample_visible(spec: MAESpec, batch: int, generator: torch.Generator) -> torch.Tensor:
    """Indices (``B × K``, sorted) of the patches each image keeps visible."""
    p, k = spec.num_patches, spec.visible_patches
    noise = torch.rand(batch, p, generator=generator)
    if spec.masking == "uniform":
        keys = noise
    else:
        coords = (torch.arange(spec.grid, dtype=torch.float32) + 0.5) / spec.grid - 0.5
        yy, xx = torch.meshgrid(coords, coords, indexing="ij")
        log_w = -(yy.reshape(-1) ** 2 + xx.reshape(-1) ** 2) / (2 * spec.normal_sigma**2)
        gumbel = -torch.log(-torch.log(noise.clamp(1e-12, 1 - 1e-7)))
        keys = log_w + gumbel
    visible = keys.topk(k, dim=1).indices
    return visible.sort(dim=1).values


def _blocks(width: int, depth: int, heads: int) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(
        width, heads, dim_feedforward=4 * width, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
    )
    return nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)


class MAEEncoder(nn.Module):
    """Patch projection, learnable positional embeddings, ViT blocks; sees visible patches only."""

    def __init__(self, spec: MAESpec) -> None:
        super().__init__()
        self.spec = spec
        self.project = nn.Linear(spec.patch_dim, spec.width)
        self.position = nn.Parameter(torch.zeros(1, spec.num_patches, spec.width))
        nn.init.trunc_normal_(self.position, std=0.02)
        self.blocks = _blocks(spec.width, spec.depth, spec.heads)
        self.norm = nn.LayerNorm(spec.width)

    def forward(self, images: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        """κ: encodings ``B × K × width`` of the ``visible`` patches (``B × K`` indices)."""
        tokens = self.project(patchify(images, self.spec.patch_size)) + self.position
        index = visible.unsqueeze(-1).expand(-1, -1, tokens.shape[-1])
        return self.norm(self.blocks(torch.gather(tokens, 1, index)))


class MAEDecoder(nn.Module):
    """Reassembles encodings with a learnable mask token and reconstructs every patch."""

    def __init__(self, spec: MAESpec) -> None:
        super().__init__()
        self.spec = spec
        self.embed = nn.Linear(spec.width, spec.decoder_width)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, spec.decoder_width))
        self.position = nn.Parameter(torch.zeros(1, spec.num_patches, spec.decoder_width))
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        nn.init.trunc_normal_(self.position, std=0.02)
        self.blocks = _blocks(spec.decoder_width, spec.decoder_depth, spec.decoder_heads)
        self.norm = nn.LayerNorm(spec.decoder_width)
        self.head = nn.Linear(spec.decoder_width, spec.patch_dim)

    def forward(self, encoded: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        b = encoded.shape[0]
        full = self.mask_token.expand(b, self.spec.num_patches, -1).clone()
        index = visible.unsqueeze(-1).expand(-1, -1, self.spec.decoder_width)
        full = full.scatter(1, index, self.embed(encoded))
        return self.head(self.norm(self.blocks(full + self.position)))


class MaskedAutoencoder(nn.Module):
    """Encoder + decoder; :meth:`loss` is the pre-training objective on masked patches."""

    def __init__(self, spec: MAESpec) -> None:
        super().__init__()
        self.spec = spec
        self.encoder = MAEEncoder(spec)
        self.decoder = MAEDecoder(spec)

    def loss(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        visible = sample_visible(self.spec, images.shape[0], generator)
        prediction = self.decoder(self.encoder(images, visible), visible)
        target = patchify(images, self.spec.patch_size)
        masked = torch.ones(prediction.shape[:2], dtype=torch.bool)
        masked.scatter_(1, visible, False)
        error = prediction - target
        per_patch = error.pow(2).mean(-1) if self.spec.loss == "mse" else error.abs().mean(-1)
        return per_patch[masked].mean() if bool(masked.any()) else per_patch.mean()


def encode_masked(
    encoder: MAEEncoder, images: torch.Tensor, generator: torch.Generator, *, batch_size: int = 512
) -> torch.Tensor:
    """Masked inference: κ for every image, masking kept as in training (``N × K × width``)."""
    was_training = encoder.training
    encoder.eval()
    out = []
    with torch.no_grad():
        for start in range(0, images.shape[0], batch_size):
            chunk = images[start : start + batch_size]
            out.append(encoder(chunk, sample_visible(encoder.spec, chunk.shape[0], generator)))
    encoder.train(was_training)
    return torch.cat(out) if out else torch.empty(0, encoder.spec.visible_patches, encoder.spec.width)
