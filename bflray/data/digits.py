"""scikit-learn's bundled digits: 1,797 real 8×8 greyscale images of 10 classes, offline.

``digits`` keeps them at 8×8; ``digits28`` resizes them to MedMNIST's 28×28 with a
deterministic bilinear resize (pure NumPy, no torchvision), so the same image models run
on either.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from bflray.data.dataset import Dataset

DIGITS_SIZE = 8


def load_digits_dataset() -> Dataset:
    """All digits as flat 8×8 float32 features in [0, 1] and int64 labels."""
    bunch = load_digits()
    features = np.asarray(bunch.data, dtype=np.float32) / 16.0
    labels = np.asarray(bunch.target, dtype=np.int64)
    return Dataset(name="digits", features=features, labels=labels, num_classes=10, image_size=DIGITS_SIZE)


def load_digits28_dataset(size: int = 28) -> Dataset:
    """All digits resized bilinearly to ``size`` × ``size``, flat float32 in [0, 1]."""
    small = load_digits_dataset()
    images = resize_bilinear(small.features.reshape(-1, DIGITS_SIZE, DIGITS_SIZE), size)
    features = np.clip(images, 0.0, 1.0).reshape(len(small), size * size).astype(np.float32)
    return Dataset(
        name="digits28" if size == 28 else f"digits{size}",
        features=features,
        labels=small.labels,
        num_classes=10,
        image_size=size,
    )


def resize_bilinear(images: np.ndarray, size: int) -> np.ndarray:
    """Resize ``images`` (… × H × W) to ``size`` × ``size`` by bilinear interpolation.

    Pixel centres are aligned as in ``torch.nn.functional.interpolate(mode="bilinear",
    align_corners=False, antialias=False)``: output pixel ``o`` samples input coordinate
    ``(o + 0.5) * H / size - 0.5``, clamped to the image. The resize is separable, one
    interpolation matrix per axis, so it is exact and deterministic.
    """
    rows = _interpolation_matrix(images.shape[-2], size)
    cols = _interpolation_matrix(images.shape[-1], size)
    resized: np.ndarray = np.einsum("oh,...hw,pw->...op", rows, images.astype(np.float64), cols)
    return resized


def _interpolation_matrix(n_in: int, n_out: int) -> np.ndarray:
    coord = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    coord = np.clip(coord, 0.0, n_in - 1)
    low = np.floor(coord).astype(np.int64)
    high = np.minimum(low + 1, n_in - 1)
    frac = coord - low
    matrix = np.zeros((n_out, n_in))
    np.add.at(matrix, (np.arange(n_out), low), 1.0 - frac)
    np.add.at(matrix, (np.arange(n_out), high), frac)
    return matrix
