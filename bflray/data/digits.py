"""scikit-learn's bundled digits: 1,797 real 8×8 greyscale images of 10 classes, offline."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from bflray.data.dataset import Dataset


def load_digits_dataset() -> Dataset:
    """All digits as flat float32 features in [0, 1] and int64 labels."""
    bunch = load_digits()
    features = np.asarray(bunch.data, dtype=np.float32) / 16.0
    labels = np.asarray(bunch.target, dtype=np.int64)
    return Dataset(name="digits", features=features, labels=labels, num_classes=10)
