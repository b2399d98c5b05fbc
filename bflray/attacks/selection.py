"""Which hospitals are malicious: ``round(η·K)`` of the K hospitals, drawn once from the run's
seed, so every stage, backend and packing agrees on them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from bflray.attacks.registry import parse_kind
from bflray.seeding import FEDERATION, Purpose, derive_rng

if TYPE_CHECKING:
    from bflray.config import Config


def malicious_mask(*, seed: int, num_hospitals: int, malicious_fraction: float) -> np.ndarray:
    """A boolean mask over hospital ids ``0 … num_hospitals−1``."""
    if not 0.0 <= malicious_fraction <= 1.0:
        raise ValueError(f"malicious_fraction must be in [0, 1], got {malicious_fraction}")
    count = int(round(malicious_fraction * num_hospitals))
    mask = np.zeros(num_hospitals, dtype=bool)
    if count:
        rng = derive_rng(seed, 0, FEDERATION, Purpose.MALICIOUS)
        mask[rng.choice(num_hospitals, size=count, replace=False)] = True
    return mask


def run_malicious_mask(config: Config) -> np.ndarray:
    """The run's malicious hospitals (``attack.malicious_fraction`` of ``federation.hospitals``), over hospital ids."""
    return malicious_mask(
        seed=config.experiment.seed, num_hospitals=config.federation.hospitals,
        malicious_fraction=config.attack.malicious_fraction,
    )


def active_attacks(config: Config) -> set[str]:
    """The attack names of ``attack.kind`` that act in the run (none when η = 0)."""
    if config.attack.malicious_fraction <= 0:
        return set()
    return {info.name for info in parse_kind(config.attack.kind)}


#: Attacks aimed at a class, whose success rate a run measures (``attack.target_class``).
TARGETED = ("targeted_label_flip", "backdoor")


def targeted_attacks(config: Config) -> list[str]:
    """The targeted attacks of ``attack.kind``, whatever η: a clean run measures the baseline.
    Both rewrite training data, and a kind holds one data attack at most, so this has one or none."""
    names = {info.name for info in parse_kind(config.attack.kind)}
    return [n for n in TARGETED if n in names]
