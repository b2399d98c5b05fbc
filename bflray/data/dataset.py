"""An in-memory labelled dataset and its held-out test split."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from bflray.errors import DataError
from bflray.seeding import FEDERATION, Purpose, derive_rng

#: Tasks as ``medmnist.INFO[name]["task"]`` spells them.
TASKS = ("multi-class", "binary-class", "multi-label, binary-class", "ordinal-regression")
MULTI_LABEL = "multi-label, binary-class"

#: Split names as MedMNIST's files spell them; a dataset's ``split`` holds their indices.
SPLITS = ("train", "val", "test")
TRAIN, VAL, TEST = 0, 1, 2


@dataclass(frozen=True)
class Dataset:
    """Labelled images held as flat float32 features.

    Attributes
    ----------
    name:
        The config name (``"digits"``, ``"digits28"``, ``"pathmnist"``, ...).
    features:
        N × D float32 in [0, 1], each row an image flattened channel-first, so
        ``D = channels * image_size**2``.
    labels:
        int64 class ids (N,) for single-label tasks; N × K 0/1 int64 for multi-label ones.
    num_classes:
        Number of classes (K labels for a multi-label task).
    task:
        One of :data:`TASKS`, as ``medmnist.INFO`` names it.
    channels, image_size:
        Image geometry: ``images`` has shape N × channels × image_size × image_size.
        ``image_size=0`` marks features that are not images (e.g. encodings).
    split:
        Per sample, the index into :data:`SPLITS` of the file split it came from, or ``None``
        when the source has no fixed splits (digits: :func:`split_train_test` draws one).
    """

    name: str
    features: np.ndarray
    labels: np.ndarray
    num_classes: int
    task: str = "multi-class"
    channels: int = 1
    image_size: int = 0
    split: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = self.features.shape[0] if self.features.ndim == 2 else -1
        multi = self.task == MULTI_LABEL
        want_labels = (n, self.num_classes) if multi else (n,)
        if self.features.ndim != 2 or self.labels.shape != want_labels:
            raise DataError(
                f"dataset {self.name!r}: features {self.features.shape} and labels "
                f"{self.labels.shape} do not describe the same samples (task {self.task!r})"
            )
        if self.task not in TASKS:
            raise DataError(f"dataset {self.name!r}: task={self.task!r} is not one of {TASKS}")
        if self.image_size and self.channels * self.image_size**2 != self.features.shape[1]:
            raise DataError(
                f"dataset {self.name!r}: {self.features.shape[1]} features are not "
                f"{self.channels} channel(s) of {self.image_size}×{self.image_size}"
            )
        if self.split is not None and self.split.shape != (n,):
            raise DataError(f"dataset {self.name!r}: split {self.split.shape} does not match {n} samples")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_features(self) -> int:
        return int(self.features.shape[1])

    @property
    def images(self) -> np.ndarray:
        """The features as an N × C × H × W float32 view."""
        if not self.image_size:
            raise DataError(f"dataset {self.name!r}: its {self.num_features} features are not images")
        return self.features.reshape(len(self), self.channels, self.image_size, self.image_size)

    @property
    def image_shape(self) -> tuple[int, int, int] | None:
        """(channels, side, side), or ``None`` when the features are not images."""
        return (self.channels, self.image_size, self.image_size) if self.image_size else None

    @property
    def multi_label(self) -> bool:
        return self.task == MULTI_LABEL

    def split_indices(self, name: str) -> np.ndarray:
        """Indices of the samples from file split ``name`` (``"train"``, ``"val"``, ``"test"``)."""
        if name not in SPLITS:
            raise DataError(f"split={name!r} is not one of {SPLITS}")
        if self.split is None:
            raise DataError(f"dataset {self.name!r} has no file splits; use split_train_test")
        return np.flatnonzero(self.split == SPLITS.index(name))

    def subset(self, indices: np.ndarray) -> Dataset:
        split = None if self.split is None else self.split[indices]
        return dataclasses.replace(
            self, features=self.features[indices], labels=self.labels[indices], split=split
        )


def split_train_test(dataset: Dataset, *, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training pool and the held-out test split, both sorted.

    A dataset with file splits (MedMNIST) keeps its own: the test split is the file's ``test``
    and the pool is ``train`` and ``val`` together (each hospital draws its own validation
    set from its share), and ``test_fraction`` is not used. Otherwise ``test_fraction`` of the
    samples, drawn from the run's seed, are held out.
    """
    if dataset.split is not None:
        test = np.flatnonzero(dataset.split == TEST)
        pool = np.flatnonzero(dataset.split != TEST)
        if len(test) == 0 or len(pool) == 0:
            raise DataError(
                f"dataset {dataset.name!r}: its files give {len(pool)} training and {len(test)} test samples; "
                "both must be non-empty"
            )
        return pool, test
    n = len(dataset)
    n_test = int(round(n * test_fraction))
    if not 0 < n_test < n:
        raise DataError(f"data.test_fraction={test_fraction} leaves {n_test} of {n} samples for testing")
    order = derive_rng(seed, 0, FEDERATION, Purpose.PARTITION).permutation(n)
    return np.sort(order[n_test:]), np.sort(order[:n_test])
