"""An in-memory labelled dataset and its held-out test split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bflray.errors import DataError
from bflray.seeding import FEDERATION, Purpose, derive_rng


@dataclass(frozen=True)
class Dataset:
    """Flat features (N × D float32) and integer labels (N,)."""

    name: str
    features: np.ndarray
    labels: np.ndarray
    num_classes: int

    def __post_init__(self) -> None:
        if self.features.ndim != 2 or self.labels.shape != (self.features.shape[0],):
            raise DataError(
                f"dataset {self.name!r}: features {self.features.shape} and labels "
                f"{self.labels.shape} do not describe the same samples"
            )

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_features(self) -> int:
        return int(self.features.shape[1])

    def subset(self, indices: np.ndarray) -> Dataset:
        return Dataset(self.name, self.features[indices], self.labels[indices], self.num_classes)


def split_train_test(dataset: Dataset, *, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training pool and the held-out test split, drawn from the run's seed."""
    n = len(dataset)
    n_test = int(round(n * test_fraction))
    if not 0 < n_test < n:
        raise DataError(f"data.test_fraction={test_fraction} leaves {n_test} of {n} samples for testing")
    order = derive_rng(seed, 0, FEDERATION, Purpose.PARTITION).permutation(n)
    return np.sort(order[n_test:]), np.sort(order[:n_test])
