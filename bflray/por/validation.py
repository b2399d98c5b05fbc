"""PoR validation (PoR paper, eq. 1): every classifier must reproduce its own published
outputs, ``|Ω_i(κ_i) − ŷ_i| < ε``, on every tuple of its transaction.

A transaction that fails (or is malformed: wrong shapes, non-finite numbers, labels out of
range or of the wrong kind) is recorded with its reason and its classifier is excluded from the round. As the
paper notes, passing does not prove honesty (κ may come from another domain); ranking
is what limits such classifiers' influence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from bflray.models.outputs import probabilities
from bflray.por.edi import EDITransaction

Logits = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``logits(states N × D, kappa) -> N × m × C``: every classifier on its own batch
(``kappa``: N × m × K × W) or on inputs shared by all (``kappa``: m × K × W)."""


@dataclass(frozen=True)
class ValidationResult:
    """Per transaction, in the order given: whether it passed, its largest output error, and
    the reason it failed (None when it passed)."""

    valid: np.ndarray
    max_error: np.ndarray
    reasons: tuple[str | None, ...]


def validate_transactions(
    transactions: Sequence[EDITransaction], logits: Logits, *, epsilon: float, num_classes: int
) -> ValidationResult:
    """Check eq. (1) for every transaction at once (one batched evaluation)."""
    n = len(transactions)
    reasons: list[str | None] = [None] * n
    errors = np.full(n, np.inf)
    if n == 0:
        return ValidationResult(np.zeros(0, bool), errors, ())
    shape = _common_shape(transactions)
    multi_label = shape[-1] == 2
    for i, tx in enumerate(transactions):
        reasons[i] = _malformed(tx, shape, num_classes)
    ok = [i for i in range(n) if reasons[i] is None]
    if ok:
        states = torch.from_numpy(np.stack([transactions[i].weights for i in ok]))
        kappa = torch.from_numpy(np.stack([transactions[i].kappa for i in ok]))
        published = torch.from_numpy(np.stack([transactions[i].outputs for i in ok]))
        recomputed = probabilities(logits(states, kappa), multi_label=multi_label)
        worst = (recomputed - published).abs().amax(dim=(1, 2)).double().numpy()
        for i, err in zip(ok, worst, strict=True):
            errors[i] = err
            if not err < epsilon:
                reasons[i] = f"outputs differ from the classifier's by {err:.3g} ≥ ε={epsilon:g}"
    valid = np.array([r is None for r in reasons])
    return ValidationResult(valid, errors, tuple(reasons))


def _common_shape(transactions: Sequence[EDITransaction]) -> tuple[int, int, int, int, int]:
    """The most common (D, m, K, W, label dimensions): transactions of another shape are malformed."""
    shapes = [_shape(tx) for tx in transactions]
    values, counts = np.unique(np.array(shapes), axis=0, return_counts=True)
    d, m, k, w, dims = (int(v) for v in values[counts.argmax()])
    return d, m, k, w, dims


def _shape(tx: EDITransaction) -> tuple[int, int, int, int, int]:
    d, (m, k, w) = tx.weights.shape[0], tx.kappa.shape
    return d, m, k, w, tx.labels.ndim


def _malformed(tx: EDITransaction, shape: tuple[int, int, int, int, int], num_classes: int) -> str | None:
    have = _shape(tx)
    if have[-1] != shape[-1]:
        kinds = {1: "class ids", 2: "multi-label targets"}
        return f"labels are {kinds.get(have[-1], have[-1])}, the round's are {kinds.get(shape[-1], shape[-1])}"
    if have != shape:
        return f"shape (D, m, K, W) = {have[:4]}, the round's is {shape[:4]}"
    if tx.outputs.shape[1] != num_classes:
        return f"{tx.outputs.shape[1]} outputs per datapoint, the task has {num_classes} classes"
    for name in ("weights", "kappa", "outputs"):
        if not np.isfinite(getattr(tx, name)).all():
            return f"{name} contain NaN or Inf"
    if tx.multi_label:
        if not np.isin(tx.labels, (0, 1)).all():
            return "multi-label targets other than 0 and 1"
    elif tx.labels.min(initial=0) < 0 or tx.labels.max(initial=0) >= num_classes:
        return f"labels outside [0, {num_classes})"
    return None
