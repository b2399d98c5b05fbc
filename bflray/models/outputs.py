"""What a classifier's logits mean for the task: one class per sample (softmax over the
classes) or several labels per sample (multi-label, e.g. ChestMNIST's 14 findings: an
independent sigmoid per label).

Labels say which: class ids have one dimension fewer than the logits (``…`` against ``… × C``);
multi-label 0/1 targets have the logits' shape.
"""

from __future__ import annotations

import numpy as np
import torch


def label_tensor(labels: np.ndarray) -> torch.Tensor:
    """Labels as int64: class ids (N,) or multi-label 0/1 targets (N × C)."""
    return torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64))


def is_multi_label(logits: torch.Tensor, labels: torch.Tensor) -> bool:
    """Whether ``labels`` are per-label 0/1 targets (the logits' shape) rather than class ids."""
    return labels.dim() == logits.dim()


def probabilities(logits: torch.Tensor, *, multi_label: bool) -> torch.Tensor:
    """Softmax over the last dimension, or an element-wise sigmoid for a multi-label task."""
    return torch.sigmoid(logits) if multi_label else torch.softmax(logits, dim=-1)


def per_sample_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Each sample's loss (shape ``…``): cross-entropy against class ids, or for multi-label
    targets the binary cross-entropy averaged over the labels (as ``BCEWithLogitsLoss`` does
    over a sample's labels)."""
    if is_multi_label(logits, labels):
        return torch.nn.functional.binary_cross_entropy_with_logits(
            logits, labels.to(logits.dtype), reduction="none"
        ).mean(dim=-1)
    return torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), reduction="none"
    ).reshape(labels.shape)


def mean_loss(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The mean of :func:`per_sample_loss` over all samples."""
    return float(per_sample_loss(logits, labels).mean())


def correct(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Each sample's accuracy (float, shape ``…``): 1 when the top class is the label; for
    multi-label targets the fraction of labels whose sign of the logit (probability ≥ 0.5)
    matches the target, MedMNIST's multi-label accuracy per sample."""
    if is_multi_label(logits, labels):
        return ((logits > 0) == labels.bool()).to(logits.dtype).mean(dim=-1)
    return (logits.argmax(dim=-1) == labels).to(logits.dtype)
