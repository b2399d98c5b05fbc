"""The benchmark classifier head, stacked over hospitals:
``BatchNorm1d(F) → Linear(F, H) → ReLU → Dropout(p) → Linear(H, C)``.

Each hospital has its own BatchNorm statistics. In training mode the batch statistics are
taken over the hospital's real samples only (padding is masked out), the normalisation uses
the biased variance and the running variance is updated with the unbiased one, with
momentum 0.1 and ε = 1e-5, as ``torch.nn.BatchNorm1d`` does. A hospital whose batch has no
real sample keeps its running statistics. (torch refuses a training batch of one sample; here
its unbiased variance is taken as its biased one, 0.)
"""

from __future__ import annotations

from dataclasses import dataclass
from math import sqrt

import numpy as np
import torch

BN_MOMENTUM = 0.1
BN_EPS = 1e-5


@dataclass(frozen=True)
class HeadSpec:
    """Sizes of the head; ``dropout`` is the probability of zeroing a hidden unit."""

    num_features: int
    hidden: int
    num_classes: int
    dropout: float = 0.0

    @property
    def num_params(self) -> int:
        f, h, c = self.num_features, self.hidden, self.num_classes
        return 2 * f + f * h + h + h * c + c

    @property
    def num_buffers(self) -> int:
        return 2 * self.num_features

    @property
    def size(self) -> int:
        return self.num_params + self.num_buffers

    @property
    def dropout_width(self) -> int:
        return self.hidden if self.dropout > 0 else 0

    def init(self, rng: np.random.Generator) -> np.ndarray:
        """torch's default initialisation: BatchNorm γ=1, β=0; Linear weights and biases
        uniform in ±1/√fan_in; running mean 0 and variance 1."""
        f, h, c = self.num_features, self.hidden, self.num_classes
        b1, b2 = 1.0 / sqrt(f), 1.0 / sqrt(h)
        parts = [
            np.ones(f), np.zeros(f),
            rng.uniform(-b1, b1, size=f * h), rng.uniform(-b1, b1, size=h),
            rng.uniform(-b2, b2, size=h * c), rng.uniform(-b2, b2, size=c),
            np.zeros(f), np.ones(f),
        ]
        return np.concatenate(parts).astype(np.float32)

    def unflatten(self, params: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of ``H × P`` parameters: gamma, beta (H × F), w1 (H × F × Hd), b1, w2 (H × Hd × C), b2."""
        f, h, c = self.num_features, self.hidden, self.num_classes
        n = params.shape[0]
        out: dict[str, torch.Tensor] = {}
        start = 0
        for name, shape in (("gamma", (f,)), ("beta", (f,)), ("w1", (f, h)), ("b1", (h,)), ("w2", (h, c)), ("b2", (c,))):
            size = int(np.prod(shape))
            out[name] = params[:, start : start + size].reshape(n, *shape)
            start += size
        return out

    def _rest(self, p: dict[str, torch.Tensor], xhat: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        z = xhat * p["gamma"].unsqueeze(1) + p["beta"].unsqueeze(1)
        hidden = torch.relu(torch.baddbmm(p["b1"].unsqueeze(1), z, p["w1"]))
        if keep is not None:
            hidden = hidden * keep
        return torch.baddbmm(p["b2"].unsqueeze(1), hidden, p["w2"])

    def forward_train(
        self, p: dict[str, torch.Tensor], buffers: torch.Tensor, x: torch.Tensor, mask: torch.Tensor,
        keep: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.num_features
        m = mask.to(x.dtype).unsqueeze(2)
        count = m.sum(dim=1)  # H × 1
        mean = (x * m).sum(dim=1) / count.clamp(min=1)
        centred = x - mean.unsqueeze(1)
        var = (centred.square() * m).sum(dim=1) / count.clamp(min=1)
        xhat = centred * torch.rsqrt(var + BN_EPS).unsqueeze(1)
        logits = self._rest(p, xhat, keep)
        with torch.no_grad():
            unbiased = var * (count / (count - 1).clamp(min=1))
            active = count > 0
            new_mean = torch.where(active, (1 - BN_MOMENTUM) * buffers[:, :f] + BN_MOMENTUM * mean, buffers[:, :f])
            new_var = torch.where(active, (1 - BN_MOMENTUM) * buffers[:, f:] + BN_MOMENTUM * unbiased, buffers[:, f:])
        return logits, torch.cat([new_mean, new_var], dim=1)

    def forward_eval(self, p: dict[str, torch.Tensor], buffers: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        f = self.num_features
        xhat = (x - buffers[:, :f].unsqueeze(1)) * torch.rsqrt(buffers[:, f:] + BN_EPS).unsqueeze(1)
        return self._rest(p, xhat, None)
