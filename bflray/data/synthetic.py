"""``data.dataset = "synthetic"``: generated features for scalability studies.

No file holds the federation's samples: every hospital block generates its own hospitals'
samples (:class:`~bflray.training.synthetic.SyntheticWorkload`, issue 5's workload: class
means plus unit Gaussian noise, drawn per hospital from the run's seed), so 10,000 hospitals
cost each shard only its own share. The driver holds the held-out test set alone: samples
of "hospitals" past the federation (ids N, N + 1, …), from the same class means.
"""

from __future__ import annotations

import numpy as np

from bflray.data.dataset import Dataset
from bflray.training.synthetic import SyntheticWorkload


def synthetic_workload(data: object) -> SyntheticWorkload:
    """The workload ``[data]`` describes (``samples_per_hospital``, ``synthetic_features``, ``synthetic_classes``)."""
    return SyntheticWorkload(
        num_features=int(getattr(data, "synthetic_features")), num_classes=int(getattr(data, "synthetic_classes")),
        samples_per_hospital=int(getattr(data, "samples_per_hospital")),
    )


def synthetic_test_set(workload: SyntheticWorkload, *, seed: int, hospitals: int, samples: int) -> Dataset:
    """``samples`` held-out samples, drawn as the hospitals after the federation's last would draw theirs."""
    extra = -(-samples // workload.samples_per_hospital)
    features, labels = workload.generate(seed=seed, hospital_ids=np.arange(hospitals, hospitals + extra))
    return Dataset(name="synthetic", features=features[:samples], labels=labels[:samples],
                   num_classes=workload.num_classes, task="multi-class", channels=1, image_size=0)
