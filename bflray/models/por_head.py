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


_BN_EPS = 1e-5


def forward_stacked(spec: PoRHeadSpec, state: dict[str, torch.Tensor], kappa: torch.Tensor) -> torch.Tensor:
    """Eval-mode logits of N heads at once with batched matrix products.

    Parameters
    ----------
    state:
        The heads' states as ``N × …`` tensors, named as in ``PoRHead.state_dict()``
        (:meth:`bflray.models.flat.FlatLayout.unflatten` of an ``N × D`` stack).
    kappa:
        ``M × K × W`` inputs shared by every head, or ``N × M × K × W``, one batch per head.

    Returns
    -------
    ``N × M × num_outputs``; equals ``PoRHead.eval()`` applied head by head.
    """
    x = kappa if kappa.dim() == 4 else kappa.unsqueeze(0)

    def bn(t: torch.Tensor, prefix: str) -> torch.Tensor:
        scale = state[f"{prefix}.weight"] / torch.sqrt(state[f"{prefix}.running_var"] + _BN_EPS)
        shift = state[f"{prefix}.bias"] - state[f"{prefix}.running_mean"] * scale
        return t * scale[:, None, None, :] + shift[:, None, None, :]

    def bias(name: str) -> torch.Tensor:
        return state[name][:, None, None, :]

    h = bn(x, "norm") if spec.input_norm else x.expand(state["classifier.0.weight"].shape[0], *x.shape[1:])
    z = torch.relu(bn(h, "bottleneck.body.0"))
    z = torch.einsum("nmkw,niw->nmki", z, state["bottleneck.body.2.weight"][..., 0]) + bias("bottleneck.body.2.bias")
    z = torch.relu(bn(z, "bottleneck.body.3"))
    k = z.shape[2]
    padded = torch.nn.functional.pad(z, (0, 0, 1, 1))
    w3 = state["bottleneck.body.5.weight"]
    z = sum(torch.einsum("nmki,noi->nmko", padded[:, :, t : t + k], w3[..., t]) for t in range(3))
    z = torch.relu(bn(z + bias("bottleneck.body.5.bias"), "bottleneck.body.6"))
    z = torch.einsum("nmki,nwi->nmkw", z, state["bottleneck.body.8.weight"][..., 0]) + bias("bottleneck.body.8.bias")
    g = (h + z).mean(dim=2)
    linears = [3 * i for i in range(len(spec.hidden))] + [3 * len(spec.hidden)]
    for i, index in enumerate(linears):
        g = torch.einsum("nmi,noi->nmo", g, state[f"classifier.{index}.weight"]) + state[f"classifier.{index}.bias"][:, None, :]
        if i < len(linears) - 1:
            g = torch.relu(g)
    return g
