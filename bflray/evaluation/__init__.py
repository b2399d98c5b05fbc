"""Evaluation metrics of a trained model and of a defence, pure numpy, one definition each.

:mod:`bflray.evaluation.classification` scores a model's N × K logits against single-label class ids
or multi-label 0/1 targets (accuracy, macro precision, recall and F1, macro AUROC);
:mod:`bflray.evaluation.robustness` holds what a poisoning experiment reports beside them (attack
success rate, detection and false-alarm rates, the worst decile of per-hospital values, the
robustness degradation ``D_r``), and :mod:`bflray.evaluation.targeted` a targeted attack's success
rate on a test split, single-label or multi-label. Every function takes plain arrays and returns Python floats, with
NaN where a rate has nothing to count, and raises ``ValueError`` naming the argument at fault.
"""

from __future__ import annotations

from bflray.evaluation.classification import classification_metrics
from bflray.evaluation.robustness import attack_success_rate, detection_rates, robustness_degradation, worst_decile
from bflray.evaluation.targeted import backdoor_rows, targeted_success

__all__ = [
    "attack_success_rate",
    "backdoor_rows",
    "classification_metrics",
    "detection_rates",
    "robustness_degradation",
    "targeted_success",
    "worst_decile",
]
