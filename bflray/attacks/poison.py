"""Where data attacks act: a block's malicious hospitals' training samples, rewritten once
when the block loads them, before any encoding or training (validation samples stay clean:
they are what the hospital would score others' models on)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from bflray.attacks.registry import parse_kind
from bflray.attacks.selection import run_malicious_mask
from bflray.errors import ConfigError
from bflray.seeding import Purpose, derive_rng

if TYPE_CHECKING:
    from bflray.config import Config


def poison_block_data(
    features: np.ndarray, labels: np.ndarray, *, config: Config, hospital_ids: np.ndarray, starts: np.ndarray,
    sizes: np.ndarray, num_classes: int, image_shape: tuple[int, int, int] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """``features`` and ``labels`` of a block (rows of hospital ``hospital_ids[i]``'s training
    samples: ``starts[i] … starts[i] + sizes[i] − 1``) with the data attack of ``attack.kind``
    applied to the malicious hospitals' rows; the arrays themselves when there is none."""
    cfg = config.attack
    if cfg.malicious_fraction <= 0:
        return features, labels
    attack = next((i for i in parse_kind(cfg.kind) if i.site == "data"), None)
    if attack is None or attack.function is None:
        return features, labels
    for key in ("source_class", "target_class"):
        if getattr(cfg, key) >= num_classes:
            raise ConfigError(f"attack.{key} = {getattr(cfg, key)}: the dataset has classes 0 … {num_classes - 1}")
    bad = run_malicious_mask(config)[hospital_ids]
    if not bad.any():
        return features, labels
    features, labels = np.array(features, copy=True), np.array(labels, copy=True)
    seed = config.experiment.seed
    for i in np.flatnonzero(bad):
        rows = slice(int(starts[i]), int(starts[i] + sizes[i]))
        rng = derive_rng(seed, 0, int(hospital_ids[i]), Purpose.POISON)
        x, y = attack.function(
            features[rows], labels[rows], rng=rng, settings=cfg, num_classes=num_classes, image_shape=image_shape
        )
        features[rows], labels[rows] = x, y
    return features, labels
