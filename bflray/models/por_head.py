"""The downstream classifier of Proof of Reasoning (PoR paper, Sec. III-B and Fig. 5).

Input: κ, the encodings of the K visible patches of an image (``B × K × W``), treated as a
1-D sequence of K positions with W channels. Layers:

1. batch normalisation over the W channels;
2. one full pre-activation residual bottleneck (He et al., 2016, "Identity mappings in deep
   residual networks"): BN → ReLU → 1×1 conv down to W/8 channels → BN → ReLU → conv of kernel
   3 at W/8 → BN → ReLU → 1×1 conv back to W, added to its input. The paper notes that the
   first BN of the head is then redundant with the bottleneck's; we keep both as the figure
   draws them only when ``input_norm`` is on;
3. global average pooling over the K positions;
4. hidden layer(s) with ReLU, each followed by dropout (the paper: 70 % on Cifar-10, 15 % on
   PneumoniaMNIST);
5. a dense output layer: one logit per class (per label for multi-label tasks).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class PoRHeadSpec:
    """Sizes of the head. ``width`` is the encoder's width W, ``tokens`` the visible patches K."""

    width: int
    tokens: int
    num_outputs: int
    hidden: tuple[int, ...] = (64,)
    dropout: float = 0.15
    reduction: int = 8
    input_norm: bool = True

    def __post_init__(self) -> None:
        if self.width < self.reduction or self.width % self.reduction:
            raise ValueError(f"width={self.width} must be a positive multiple of reduction={self.reduction}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout={self.dropout} must be in [0, 1)")
        if self.num_outputs < 1 or self.tokens < 1:
            raise ValueError(f"num_outputs={self.num_outputs} and tokens={self.tokens} must be positive")


class ResidualBottleneck1d(nn.Module):
    """Full pre-activation bottleneck over a ``B × C × L`` sequence (Fig. 5 of the PoR paper)."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        inner = channels // reduction
        self.body = nn.Sequential(
            nn.BatchNorm1d(channels), nn.ReLU(), nn.Conv1d(channels, inner, 1),
            nn.BatchNorm1d(inner), nn.ReLU(), nn.Conv1d(inner, inner, 3, padding=1),
            nn.BatchNorm1d(inner), nn.ReLU(), nn.Conv1d(inner, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class PoRHead(nn.Module):
    """κ (``B × K × W``) → logits (``B × num_outputs``)."""

    def __init__(self, spec: PoRHeadSpec) -> None:
        super().__init__()
        self.spec = spec
        self.norm = nn.BatchNorm1d(spec.width) if spec.input_norm else nn.Identity()
        self.bottleneck = ResidualBottleneck1d(spec.width, spec.reduction)
        layers: list[nn.Module] = []
        previous = spec.width
        for size in spec.hidden:
            layers += [nn.Linear(previous, size), nn.ReLU(), nn.Dropout(spec.dropout)]
            previous = size
        layers.append(nn.Linear(previous, spec.num_outputs))
        self.classifier = nn.Sequential(*layers)

    def forward(self, kappa: torch.Tensor) -> torch.Tensor:
        x = self.bottleneck(self.norm(kappa.transpose(1, 2)))
        return self.classifier(x.mean(dim=2))

