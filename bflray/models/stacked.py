"""What the vectorised trainer needs of a model: H hospitals' copies evaluated at once.

A model's state for one hospital is one float32 vector of length ``size``: its trainable
parameters first (``num_params``), then its buffers (``num_buffers``, e.g. BatchNorm running
statistics, which training updates but no gradient reaches). FedAvg averages the whole
vector, buffers included, as Flower does with a ``state_dict``.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch


class StackedModel(Protocol):
    """A model evaluated for H hospitals at once on their own batches."""

    @property
    def num_params(self) -> int:
        """Trainable parameters per hospital, P."""
        ...

    @property
    def num_buffers(self) -> int:
        """Non-trainable state per hospital (running statistics)."""
        ...

    @property
    def size(self) -> int:
        """``num_params + num_buffers``: the length of one hospital's state vector."""
        ...

    @property
    def dropout_width(self) -> int:
        """Units one sample's dropout mask covers; 0 when the model has no dropout."""
        ...

    def init(self, rng: np.random.Generator) -> np.ndarray:
        """A fresh state vector (float32, length ``size``)."""
        ...

    def unflatten(self, params: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named views (``H × shape``) of ``H × P`` parameters, sharing their storage."""
        ...

    def forward_train(
        self,
        p: dict[str, torch.Tensor],
        buffers: torch.Tensor,
        x: torch.Tensor,
        mask: torch.Tensor,
        keep: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Training-mode logits ``H × B × C`` and the updated buffers ``H × num_buffers``.

        ``mask`` (H × B bool) marks real samples (the rest is padding, which must not touch
        batch statistics); ``keep`` (H × B × dropout_width, already scaled by 1/(1-p)) is the
        dropout mask, or None for no dropout.
        """
        ...

    def forward_eval(self, p: dict[str, torch.Tensor], buffers: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Inference-mode logits ``H × B × C``."""
        ...


def evaluate(model: StackedModel, state: np.ndarray, features: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Accuracy and mean cross-entropy of one model (``state``: length ``size``) on a labelled set."""
    with torch.no_grad():
        flat = torch.from_numpy(np.array(state, dtype=np.float32)).unsqueeze(0)
        x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)).unsqueeze(0)
        y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        p = model.num_params
        logits = model.forward_eval(model.unflatten(flat[:, :p]), flat[:, p:], x)[0]
        loss = torch.nn.functional.cross_entropy(logits, y).item()
        accuracy = (logits.argmax(dim=1) == y).double().mean().item()
    return float(accuracy), float(loss)
