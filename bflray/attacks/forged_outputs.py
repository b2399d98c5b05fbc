"""Forged outputs, a Proof of Reasoning attack (PoR paper, Sec. III-C): a malicious hospital
publishes outputs ŷ in its EDI transaction that its classifier Ω_i does not compute.

The forgery chosen here is the one-hot vector of each datapoint's ground truth y: the
transaction claims a perfect classifier, certain and right on every published tuple. It is
the attacker's best lie because it is the best claim any score can read off the outputs:
the one-hot of the truth maximises accuracy, likelihood, rank points and the Brier score
alike, so a federation that trusted published outputs (as FedAvg trusts reported sample
counts, Sec. I) would rank this classifier first whatever its weights are.

PoR does not trust them: validation recomputes Ω_i(κ_i) from the published weights and
rejects the transaction when ``|Ω_i(κ_i) − ŷ_i| ≥ ε`` (eq. 1), so the forger is excluded from
the round. The one case the forgery passes is when it is no lie: a classifier whose softmax
already lies within ε of the one-hot truth on every published tuple.
"""

from __future__ import annotations

import numpy as np

from bflray.attacks.registry import declare_attack

declare_attack(
    "forged_outputs", category="por",
    summary="publish outputs ŷ claiming a perfect classifier (one-hot ground truth), not the classifier's own",
)


def forge_outputs(labels: np.ndarray, *, num_classes: int, multi_label: bool = False) -> np.ndarray:
    """The forged ŷ of one or more transactions: the one-hot of ``labels`` (for a multi-label
    task the 0/1 targets themselves, a certain answer on every label).

    Parameters
    ----------
    labels:
        Ground-truth class indices y, any shape (``m`` for one transaction, ``n × m`` for
        several), each in ``[0, num_classes)``; multi-label: 0/1 targets of shape ``… × C``.
    num_classes:
        C, the task's number of classes (labels).
    multi_label:
        Whether ``labels`` are multi-label targets.

    Returns
    -------
    float32 array of shape ``labels.shape + (C,)``: 1 at each true class, 0 elsewhere.
    """
    labels = np.asarray(labels)
    if num_classes < 1:
        raise ValueError(f"forged_outputs: num_classes = {num_classes}, must be ≥ 1")
    if multi_label:
        if labels.shape[-1:] != (num_classes,) or not np.isin(labels, (0, 1)).all():
            raise ValueError(f"forged_outputs: multi-label targets must be 0/1 of shape … × {num_classes}, got shape {labels.shape}")
        return labels.astype(np.float32)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"forged_outputs: labels in [{labels.min()}, {labels.max()}] fall outside [0, {num_classes}) "
            "(the task's classes)"
        )
    return np.eye(num_classes, dtype=np.float32)[labels.astype(np.int64)]
