"""What the vectorised trainer needs of a model: H hospitals' copies evaluated at once.

A model's state for one hospital is one float32 vector of length ``size``: its trainable
parameters first (``num_params``), then its buffers (``num_buffers``, e.g. BatchNorm running
statistics, which training updates but no gradient reaches). FedAvg averages the whole
vector, buffers included, as Flower does with a ``state_dict``.

Every model is trained through autograd over :meth:`StackedModel.forward_train`. A model that
also implements :class:`HandWrittenBackward` is trained without autograd, by its own batched
forward and backward passes, which is several times faster for small per-hospital matrices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import torch

from bflray.models.outputs import correct, label_tensor, mean_loss


@dataclass(frozen=True)
class EpochBatches:
    """One epoch of a chunk of C hospitals, batch-major: batch j of every hospital is the
    contiguous block ``x[j]`` (C × B × F), so a step reads one slab of memory.

    ``x``: nb × C × B × F float32, or the stored dtype for a model with a hand-written
    backward (padding rows hold arbitrary real samples);
    ``labels``: nb × C × B int64 class ids (nb × C × B × K 0/1 for a multi-label task);
    ``mask``: nb × C × B bool, False marks padding.
    """

    x: torch.Tensor
    labels: torch.Tensor
    mask: torch.Tensor

    @property
    def num_batches(self) -> int:
        return int(self.x.shape[0])


def scratch(
    workspace: dict[str, torch.Tensor] | None, name: str, shape: tuple[int, ...], dtype: torch.dtype,
    device: torch.device | None = None,
) -> torch.Tensor:
    """An uninitialised tensor, reused from ``workspace`` when one of that shape is there.

    Large fresh tensors cost a page fault per 4 KiB on first touch; reusing them across the
    chunks of a call keeps the trainer out of the kernel."""
    device = torch.device("cpu") if device is None else device
    if workspace is None:
        return torch.empty(shape, dtype=dtype, device=device)
    found = workspace.get(name)
    if found is None or found.shape != shape or found.dtype != dtype or found.device != device:
        found = workspace[name] = torch.empty(shape, dtype=dtype, device=device)
    return found


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


@runtime_checkable
class HandWrittenBackward(Protocol):
    """A stacked model with its own batched backward pass; the trainer then skips autograd.

    Parameters are passed as a dict of contiguous ``C × shape`` tensors (one per named part,
    in :meth:`StackedModel.unflatten` order). The loss of a hospital is the mean (``"mean"``)
    or the sum (``"sum"``) of the cross-entropy over its real samples of the batch.
    """

    def prepare_epoch(
        self, batches: EpochBatches, buffers: torch.Tensor, *, reduction: Literal["mean", "sum"] = "mean",
        workspace: dict[str, torch.Tensor] | None = None,
    ) -> tuple[object, torch.Tensor]:
        """Everything about the epoch's batches that does not depend on the parameters
        (for example BatchNorm's batch statistics), and the buffers after the epoch.

        ``batches.x`` may be in the features' stored dtype (float16), and may be overwritten;
        ``workspace`` holds scratch tensors it may reuse (by name) from one call to the next,
        valid until the next call."""
        ...

    def train_step(
        self,
        parts: dict[str, torch.Tensor],
        prepared: object,
        batch: int,
        *,
        keep: torch.Tensor | None = None,
        keep_scale: float = 1.0,
        learning_rate: float | None = None,
        grads: dict[str, torch.Tensor] | None = None,
        shared: bool = False,
    ) -> torch.Tensor:
        """Forward and backward on batch ``batch`` of the prepared epoch; the per-hospital
        losses (length C).

        ``shared`` promises that every hospital's parameters are equal (a chunk's first step
        from the global point, or SVRG's anchor), so the model may read hospital 0's as
        everyone's.

        With ``learning_rate`` it takes a plain SGD step on ``parts`` in place; otherwise it
        writes the gradients into ``grads`` (same shapes as ``parts``) and leaves ``parts``
        alone. ``keep`` (C × B × dropout_width, 0/1 float) is the dropout mask, ``keep_scale``
        the inverted-dropout factor 1/(1-p).
        """
        ...


def predict_logits(model: StackedModel, state: np.ndarray, features: np.ndarray) -> torch.Tensor:
    """One model's (``state``: length ``size``) logits on ``features`` (N × K)."""
    with torch.no_grad():
        flat = torch.from_numpy(np.array(state, dtype=np.float32)).unsqueeze(0)
        x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)).unsqueeze(0)
        p = model.num_params
        logits: torch.Tensor = model.forward_eval(model.unflatten(flat[:, :p]), flat[:, p:], x)[0]
    return logits


def evaluate(model: StackedModel, state: np.ndarray, features: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Accuracy and mean loss of one model (``state``: length ``size``) on a labelled set: cross-entropy
    on class ids, binary cross-entropy on multi-label targets (:mod:`bflray.models.outputs`)."""
    logits = predict_logits(model, state, features)
    y = label_tensor(labels)
    return float(correct(logits, y).double().mean()), mean_loss(logits, y)
