"""Label flipping, a data attack (Tolpegin et al., 2020, "Data Poisoning Attacks Against
Federated Learning Systems"): a malicious hospital trains on wrong labels.

- ``label_flip`` (random): each poisoned sample's label becomes another class drawn uniformly
  (for a multi-label task every label bit is inverted);
- ``targeted_label_flip``: every sample of ``attack.source_class`` is relabelled
  ``attack.target_class`` (multi-label: samples with the source label get the target label
  instead); success is the source→target rate on the test split.

``attack.poison_fraction`` is the share of the hospital's samples poisoned (of its
source-class samples, for the targeted flip), drawn with the hospital's own generator.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bflray.attacks.registry import register_attack


def poisoned_rows(candidates: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """``round(fraction · len(candidates))`` of the candidate row indices, drawn by ``rng``, sorted."""
    count = int(round(fraction * len(candidates)))
    return np.sort(rng.choice(candidates, size=count, replace=False)) if count else candidates[:0]


@register_attack("label_flip", category="data", site="data")
def label_flip(
    features: np.ndarray, labels: np.ndarray, *, rng: np.random.Generator, settings: Any, num_classes: int,
    image_shape: tuple[int, int, int] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Random label flipping: poisoned samples get a uniformly drawn wrong class."""
    rows = poisoned_rows(np.arange(len(labels)), settings.poison_fraction, rng)
    out = labels.copy()
    if labels.ndim == 2:
        out[rows] = 1 - out[rows]
    elif len(rows):
        shift = rng.integers(1, num_classes, size=len(rows))  # never 0: the label always changes
        out[rows] = (out[rows] + shift) % num_classes
    return features, out


@register_attack("targeted_label_flip", category="data", site="data")
def targeted_label_flip(
    features: np.ndarray, labels: np.ndarray, *, rng: np.random.Generator, settings: Any, num_classes: int,
    image_shape: tuple[int, int, int] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Samples of ``attack.source_class`` relabelled ``attack.target_class``."""
    source, target = settings.source_class, settings.target_class
    out = labels.copy()
    if labels.ndim == 2:
        rows = poisoned_rows(np.flatnonzero(labels[:, source] == 1), settings.poison_fraction, rng)
        out[rows, source], out[rows, target] = 0, 1
    else:
        rows = poisoned_rows(np.flatnonzero(labels == source), settings.poison_fraction, rng)
        out[rows] = target
    return features, out
