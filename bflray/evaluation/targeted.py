"""The success rate of a targeted attack on a test split, single-label or multi-label.

- ``targeted_label_flip``: the share of test samples of ``source`` predicted as ``target``;
- ``backdoor``: the share of test samples without the target class, stamped with the trigger,
  predicted as ``target`` (the caller stamps the rows :func:`backdoor_rows` selects and passes
  the model's logits on them).

For a multi-label task (ChestMNIST's findings) "of a class" means "with that finding", and
"predicted as the target" means the target finding's probability is at least 0.5 (its logit
≥ 0): the flip's rate is over samples with the source finding and without the target one.
"""

from __future__ import annotations

import numpy as np

from bflray.evaluation.robustness import attack_success_rate

TARGETED_KINDS = ("targeted_label_flip", "backdoor")


def backdoor_rows(labels: np.ndarray, target: int) -> np.ndarray:
    """Which test rows a backdoor's trigger is tested on: those without the target class (finding)."""
    labels = np.asarray(labels)
    rows: np.ndarray = labels[:, target] != 1 if labels.ndim == 2 else labels != target
    return rows


def targeted_success(
    kind: str, logits: np.ndarray, labels: np.ndarray, *, target: int, source: int,
    triggered_logits: np.ndarray | None = None,
) -> float:
    """The attack's success rate; NaN when no test sample can show it.

    ``logits`` (N × C) are the model's on the clean test split with ``labels`` (class ids N, or
    N × C 0/1); ``triggered_logits`` (a backdoor only) its logits on the triggered
    :func:`backdoor_rows`.
    """
    labels = np.asarray(labels)
    multi = labels.ndim == 2
    if kind == "targeted_label_flip":
        if not multi:
            return attack_success_rate(np.argmax(logits, axis=1), labels, target=target, source=source)
        rows = (labels[:, source] == 1) & (labels[:, target] != 1)
        return _share(np.asarray(logits)[rows, target] >= 0)
    if kind != "backdoor":
        raise ValueError(f"kind must be one of {', '.join(TARGETED_KINDS)}, got {kind!r}")
    if triggered_logits is None:
        raise ValueError("a backdoor's success rate needs triggered_logits, the model's logits on the triggered rows")
    if multi:
        return _share(np.asarray(triggered_logits)[:, target] >= 0)
    return attack_success_rate(np.argmax(triggered_logits, axis=1), labels[backdoor_rows(labels, target)], target=target)


def _share(hits: np.ndarray) -> float:
    return float(hits.mean()) if hits.size else float("nan")
