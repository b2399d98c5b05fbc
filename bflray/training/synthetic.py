"""Generated features for scale benchmarks, until the PoR feature cache lands.

Each class c has a mean vector μ_c (drawn once from the run's seed); a sample of class c is
``μ_c + N(0, I)``. Every hospital draws its own samples from
``derive_rng(seed, 0, hospital, SYNTHETIC)``, so a shard generates only its hospitals' data
and the data do not depend on the packing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bflray.seeding import FEDERATION, Purpose, derive_rng


@dataclass(frozen=True)
class SyntheticWorkload:
    """``samples_per_hospital`` samples of ``num_features`` features and ``num_classes`` classes per hospital."""

    num_features: int = 256
    num_classes: int = 9
    samples_per_hospital: int = 128
    separation: float = 0.5

    def generate(self, *, seed: int, hospital_ids: np.ndarray, dtype: str = "float32") -> tuple[np.ndarray, np.ndarray]:
        """Features (H·n × F, in ``dtype``) and labels (H·n,), hospital by hospital."""
        means = derive_rng(seed, 0, FEDERATION, Purpose.SYNTHETIC).normal(
            scale=self.separation, size=(self.num_classes, self.num_features)
        ).astype(np.float32)
        n = self.samples_per_hospital
        features = np.empty((len(hospital_ids) * n, self.num_features), dtype=dtype)
        labels = np.empty(len(hospital_ids) * n, dtype=np.int64)
        for i, h in enumerate(hospital_ids.tolist()):
            rng = derive_rng(seed, 0, h, Purpose.SYNTHETIC)
            y = rng.integers(0, self.num_classes, size=n)
            features[i * n : (i + 1) * n] = rng.standard_normal((n, self.num_features), dtype=np.float32) + means[y]
            labels[i * n : (i + 1) * n] = y
        return features, labels
