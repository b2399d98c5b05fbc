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
from bflray.data.synthetic import synthetic_test_set, synthetic_workload
from bflray.training.synthetic import SyntheticWorkload


@dataclass(frozen=True)
class FederatedData:
    """A dataset as the federation sees it."""

    loaded: LoadedData
    test: np.ndarray
    splits: list[HospitalSplit]
    workload: SyntheticWorkload | None = None  # synthetic: the blocks generate their hospitals' samples

    @property
    def dataset(self) -> Dataset:
        return self.loaded.dataset

    def describe(self) -> dict[str, object]:
        """What the run directory records about its data."""
        if self.workload is not None:
            n = self.workload.samples_per_hospital
            return {
                "dataset": "synthetic", "source_used": "generated", "fallback_reason": None, "task": self.dataset.task,
                "num_classes": self.dataset.num_classes, "num_features": self.workload.num_features,
                "test_samples": int(len(self.test)), "samples_per_hospital": n,
                "hospital_train_samples": {"min": n, "max": n, "total": n * len(self.splits)},
                "validation_samples": 0,
            }
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
    if data.dataset == "synthetic":
        workload = synthetic_workload(data)
        test_set = synthetic_test_set(workload, seed=config.experiment.seed, hospitals=config.federation.hospitals,
                                      samples=data.synthetic_test_samples)
        none = np.empty(0, dtype=np.int64)
        splits = [HospitalSplit(train=none, validation=none)] * config.federation.hospitals
        return FederatedData(LoadedData(test_set, "offline"), np.arange(len(test_set)), splits, workload)
    loaded = load_data(data)
    seed = config.experiment.seed
    pool, test = split_train_test(loaded.dataset, test_fraction=data.test_fraction, seed=seed)
    splits = partition_hospitals(
        loaded.dataset.labels, pool, scheme=data.partition, num_hospitals=config.federation.hospitals, seed=seed,
        alpha=data.alpha, quantity_alpha=data.quantity_alpha, validation_fraction=data.validation_fraction,
    )
    return FederatedData(loaded=loaded, test=test, splits=splits)
