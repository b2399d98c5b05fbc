"""Classification metrics of a model's outputs: accuracy, macro precision, recall and F1, macro AUROC.

The simulator evaluates the global model of every round on a held-out set; MedMNIST has single-label
tasks (one class per image) and a multi-label one (ChestMNIST, 14 findings per image). This module
turns the model's raw outputs, N × K logits, into the five numbers reported for each round, with one
definition of each that holds for both kinds of task and for degenerate cases (a class never
predicted, a class absent from the labels), so that runs stay comparable.

Single-label (``labels`` holds N class ids in ``[0, K)``):

- the logits become probabilities through a numerically stable softmax, and the prediction is the
  class of the largest logit (the first one on ties);
- ``accuracy`` is the share of samples whose prediction is their label;
- ``precision``, ``recall`` and ``f1`` are macro averages over the classes that occur in the labels
  or in the predictions. A class with no predicted sample has precision 0, a class with no labelled
  sample has recall 0, and a class whose precision and recall are both 0 has F1 0. The macro F1 is
  the mean of the per-class F1 scores, not the F1 of the macro precision and recall;
- ``auroc`` is the macro one-vs-rest AUROC of the softmax probabilities, averaged over the classes
  that have both positive and negative samples in ``labels``; NaN when no class has both.

Multi-label (``labels`` is N × K, 0/1):

- each label's probability is the sigmoid of its logit, and a label is predicted present when its
  probability exceeds 0.5, i.e. when its logit is positive;
- ``accuracy`` is the element-wise share of the N × K decisions that are right;
- ``precision``, ``recall`` and ``f1`` are macro averages over all K labels, with the same zero
  conventions as above;
- ``auroc`` is the macro AUROC over the labels that have both present and absent samples; NaN when
  none has both. The sigmoid is strictly increasing, so each label's AUROC is computed from its
  logits directly: the same value, without the ties that a sigmoid saturated at 0 or 1 in float64
  would introduce.

AUROC is the Mann-Whitney statistic: the probability that a random positive sample scores above a
random negative one, ties counting one half. These conventions agree with scikit-learn's
``f1_score(average="macro", zero_division=0)`` and ``roc_auc_score`` where those are defined.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["classification_metrics"]

Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]
Ints = NDArray[np.int64]


def classification_metrics(scores: ArrayLike, labels: ArrayLike, *, multi_label: bool = False) -> dict[str, float]:
    """``accuracy``, ``precision``, ``recall``, ``f1`` and ``auroc`` of N × K logits against their labels.

    ``labels`` holds N class ids in ``[0, K)`` when ``multi_label`` is false, and is an N × K array of
    0/1 (or booleans) when it is true. See the module docstring for the exact definitions.
    Raises ``ValueError`` for an empty, non-finite or wrongly shaped input.
    """
    logits = _logits(scores)
    if multi_label:
        return _multi_label_metrics(logits, _label_matrix(labels, logits.shape))
    return _single_label_metrics(logits, _class_ids(labels, logits.shape))


def _single_label_metrics(logits: Floats, labels: Ints) -> dict[str, float]:
    predictions = np.argmax(logits, axis=1)
    classes = np.union1d(labels, predictions)
    precision, recall, f1 = _macro_scores(predictions[:, None] == classes, labels[:, None] == classes)
    probabilities = _softmax(logits)
    aurocs = [_auroc(probabilities[:, k], labels == k) for k in range(logits.shape[1])]
    return _report(float(np.mean(predictions == labels)), precision, recall, f1, aurocs)


def _multi_label_metrics(logits: Floats, labels: Bools) -> dict[str, float]:
    predictions = logits > 0.0  # sigmoid(logit) > 0.5
    precision, recall, f1 = _macro_scores(predictions, labels)
    aurocs = [_auroc(logits[:, k], labels[:, k]) for k in range(logits.shape[1])]
    return _report(float(np.mean(predictions == labels)), precision, recall, f1, aurocs)


def _report(accuracy: float, precision: float, recall: float, f1: float, aurocs: list[float]) -> dict[str, float]:
    return {"accuracy": accuracy, "precision": precision, "recall": recall, "f1": f1, "auroc": _nan_mean(aurocs)}


def _softmax(logits: Floats) -> Floats:
    """Row-wise softmax of an N × K array, shifted by each row's maximum so that no exponential overflows."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    result: Floats = shifted / shifted.sum(axis=1, keepdims=True)
    return result


def _macro_scores(predicted: Bools, actual: Bools) -> tuple[float, float, float]:
    """Macro precision, recall and F1 over the columns of two N × C boolean indicator matrices."""
    true_positives = np.sum(predicted & actual, axis=0).astype(np.float64)
    precision = _ratio(true_positives, np.sum(predicted, axis=0))
    recall = _ratio(true_positives, np.sum(actual, axis=0))
    f1 = _ratio(2.0 * precision * recall, precision + recall)
    return float(np.mean(precision)), float(np.mean(recall)), float(np.mean(f1))


def _ratio(numerator: Floats, denominator: ArrayLike) -> Floats:
    """``numerator / denominator`` element-wise, 0 where the denominator is 0."""
    below = np.asarray(denominator, dtype=np.float64)
    safe = np.where(below > 0, below, 1.0)
    result: Floats = np.where(below > 0, numerator / safe, 0.0)
    return result


def _auroc(scores: Floats, positive: Bools) -> float:
    n_positive = int(np.sum(positive))
    n_negative = positive.size - n_positive
    if n_positive == 0 or n_negative == 0:
        return float("nan")
    rank_sum = float(np.sum(_average_ranks(scores)[positive]))
    return (rank_sum - n_positive * (n_positive + 1) / 2.0) / (n_positive * n_negative)


def _average_ranks(values: Floats) -> Floats:
    """1-based ranks of ``values``, tied values sharing the mean of the ranks they span."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    last_rank = np.cumsum(counts).astype(np.float64)
    mean_rank: Floats = last_rank - (counts - 1) / 2.0
    result: Floats = mean_rank[inverse.reshape(-1)]
    return result


def _nan_mean(values: list[float]) -> float:
    finite = [v for v in values if not np.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _logits(scores: ArrayLike) -> Floats:
    logits = np.asarray(scores, dtype=np.float64)
    if logits.ndim != 2:
        raise ValueError(f"scores must be an N × K array, got shape {logits.shape}")
    if logits.shape[0] == 0:
        raise ValueError(f"scores must hold at least one sample, got N = 0 (shape {logits.shape})")
    if logits.shape[1] == 0:
        raise ValueError(f"scores must hold at least one class, got K = 0 (shape {logits.shape})")
    if not np.all(np.isfinite(logits)):
        raise ValueError("scores must be finite, got NaN or infinite values")
    return logits


def _class_ids(labels: ArrayLike, shape: tuple[int, ...]) -> Ints:
    n, k = shape
    ids = np.asarray(labels)
    if ids.shape != (n,):
        raise ValueError(f"labels must have shape ({n},) to match scores of shape {shape}, got shape {ids.shape}")
    if ids.dtype.kind not in "iubf":
        raise ValueError(f"labels must hold integer class ids, got dtype {ids.dtype}")
    if ids.dtype.kind == "f" and not np.all(np.mod(ids, 1) == 0):
        raise ValueError(f"labels must hold integer class ids, got {np.unique(ids[np.mod(ids, 1) != 0])[:5].tolist()}")
    out_of_range = np.unique(ids[(ids < 0) | (ids >= k)])
    if out_of_range.size:
        raise ValueError(f"labels must be class ids in [0, {k}), got {out_of_range.tolist()}")
    return ids.astype(np.int64)


def _label_matrix(labels: ArrayLike, shape: tuple[int, ...]) -> Bools:
    matrix = np.asarray(labels)
    if matrix.shape != shape:
        raise ValueError(f"labels must have the shape of scores {shape} for multi-label, got shape {matrix.shape}")
    return _as_bools("labels", matrix)


def _as_bools(name: str, values: NDArray[np.generic]) -> Bools:
    if values.dtype.kind == "b":
        return values.astype(np.bool_)
    if values.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold 0/1 or booleans, got dtype {values.dtype}")
    bad = np.unique(values[(values != 0) & (values != 1)])
    if bad.size:
        raise ValueError(f"{name} must hold only 0 and 1, got {bad[:5].tolist()}")
    return values.astype(np.bool_)
