"""Backdoor with a pixel-pattern trigger (Gu et al., 2017, "BadNets"; in federated learning
Bagdasaryan et al., 2020): a malicious hospital stamps a white square of
``attack.trigger_size`` pixels into the bottom-right corner of a share
``attack.poison_fraction`` of its images and relabels them ``attack.target_class``. The model
still classifies clean images well, but sends any image carrying the trigger to the target
class; the attack's success is that rate on triggered test images of the other classes.

Features that are not images (no image shape) carry the trigger in their last
``trigger_size²`` features.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bflray.attacks.label_flip import poisoned_rows
from bflray.attacks.registry import register_attack


def apply_trigger(
    features: np.ndarray, image_shape: tuple[int, int, int] | None, *, size: int, value: float = 1.0
) -> np.ndarray:
    """A copy of ``features`` (n × D, rows flattened channel-first) with the trigger stamped on every row."""
    out = np.array(features, copy=True)
    if image_shape is None or image_shape[1] == 0:
        out[:, -size * size :] = value
        return out
    channels, height, width = image_shape
    if size > min(height, width):
        raise ValueError(f"attack.trigger_size = {size} does not fit a {height}×{width} image")
    images = out.reshape(len(out), channels, height, width)
    images[:, :, height - size :, width - size :] = value
    return out


@register_attack("backdoor", category="data", site="data")
def backdoor(
    features: np.ndarray, labels: np.ndarray, *, rng: np.random.Generator, settings: Any, num_classes: int,
    image_shape: tuple[int, int, int] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Triggered copies of a share of the samples, relabelled to the target class."""
    rows = poisoned_rows(np.arange(len(labels)), settings.poison_fraction, rng)
    x, y = np.array(features, copy=True), labels.copy()
    x[rows] = apply_trigger(features[rows], image_shape, size=settings.trigger_size, value=settings.trigger_value)
    if y.ndim == 2:
        y[rows] = 0
        y[rows, settings.target_class] = 1
    else:
        y[rows] = settings.target_class
    return x, y
