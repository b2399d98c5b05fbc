"""The federation's view of a dataset: the data the config names (or its offline fallback),
the held-out test split, and every hospital's train and validation indices.

The driver and every hospital block build the same view from the config alone, so no data
crosses process boundaries and the packing of hospitals into blocks changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bflray.config import Config
from bflray.data.dataset import Dataset, split_train_test
from bflray.data.hospital_split import HospitalSplit, partition_hospitals
from bflray.data.loading import LoadedData, load_data


@dataclass(frozen=True)
class FederatedData:
    """A dataset as the federation sees it."""

    loaded: LoadedData
    test: np.ndarray
    splits: list[HospitalSplit]

    @property
    def dataset(self) -> Dataset:
        return self.loaded.dataset

    def describe(self) -> dict[str, object]:
        """What the run directory records about its data."""
        sizes = np.array([len(s.train) for s in self.splits])
        return {
            "dataset": self.dataset.name,
            "source_used": self.loaded.source_used,
            "fallback_reason": self.loaded.fallback_reason,
            "task": self.dataset.task,
            "num_classes": self.dataset.num_classes,
            "samples": len(self.dataset),
            "test_samples": int(len(self.test)),
            "hospital_train_samples": {"min": int(sizes.min()), "max": int(sizes.max()), "total": int(sizes.sum())},
            "validation_samples": int(sum(len(s.validation) for s in self.splits)),
        }


def prepare_federated_data(config: Config, *, download: bool | None = None) -> FederatedData:
    """Load the config's dataset and split it over its hospitals.

    ``download=False`` forbids a download (hospital blocks use it: the driver downloads once).
    """
    data = config.data if download is None else config.data.model_copy(update={"download": download})
    loaded = load_data(data)
    seed = config.experiment.seed
    pool, test = split_train_test(loaded.dataset, test_fraction=data.test_fraction, seed=seed)
    splits = partition_hospitals(
        loaded.dataset.labels, pool, scheme=data.partition, num_hospitals=config.federation.hospitals, seed=seed,
        alpha=data.alpha, quantity_alpha=data.quantity_alpha, validation_fraction=data.validation_fraction,
    )
    return FederatedData(loaded=loaded, test=test, splits=splits)
