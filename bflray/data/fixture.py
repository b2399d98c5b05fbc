"""Small synthetic files in MedMNIST's exact ``.npz`` layout, for tests and offline demos.

The file is ``{root}/{name}.npz`` (the name ``medmnist`` looks for at size 28) with
``{split}_images`` (uint8, N×28×28, or N×28×28×C for colour sets) and ``{split}_labels``
(uint8, N×1, or N×K for multi-label) for train, val and test, so the real ``medmnist``
dataset classes open it. Their ``__len__`` asserts that N equals ``medmnist.INFO``'s
``n_samples`` for the split; a small fixture differs, so read ``.imgs``/``.labels`` (as
:func:`bflray.data.load_medmnist` does) or pass ``n``, ``n_val``, ``n_test`` equal to the
INFO sizes (:func:`info_split_sizes`) when ``len()`` must work.

Each class gets a smooth random template and an image is its class's template plus noise,
so a model can learn something from a fixture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bflray.data.dataset import MULTI_LABEL, SPLITS
from bflray.data.digits import resize_bilinear
from bflray.data.medmnist_source import IMAGE_SIZE, medmnist_info, medmnist_path
from bflray.errors import DataError

_TEMPLATE_SIZE = 7
_POSITIVE_RATE = 0.2


def info_split_sizes(name: str) -> dict[str, int]:
    """The split sizes ``medmnist.INFO`` lists for ``name``."""
    return {split: int(n) for split, n in medmnist_info(name)["n_samples"].items()}


def write_fixture(
    name: str,
    n: int,
    *,
    root: str | Path = "data",
    seed: int = 0,
    n_val: int | None = None,
    n_test: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a synthetic ``{root}/{name}.npz`` in MedMNIST's layout and return its path.

    Parameters
    ----------
    name:
        A 2D MedMNIST flag, e.g. ``"pathmnist"``, ``"chestmnist"``, ``"pneumoniamnist"``.
    n:
        Training samples; ``n_val`` and ``n_test`` default to ``max(1, n // 4)`` each.
    root:
        Folder to write into (created if absent).
    seed:
        Seed of the images and labels; the same arguments write the same arrays.
    overwrite:
        Replace an existing file; without it an existing file (maybe the real data) is an error.
    """
    info = medmnist_info(name)
    sizes = {"train": n, "val": max(1, n // 4) if n_val is None else n_val}
    sizes["test"] = max(1, n // 4) if n_test is None else n_test
    for split, size in sizes.items():
        if size < 1:
            raise DataError(f"fixture {name!r}: the {split} split needs at least 1 sample, got {size}")
    path = medmnist_path(name, root)
    if path.exists() and not overwrite:
        raise DataError(f"fixture {name!r}: {path} already exists; remove it or pass overwrite (--force)")
    channels = int(info["n_channels"])
    num_classes = len(info["label"])
    multi_label = info["task"] == MULTI_LABEL
    rng = np.random.default_rng(seed)
    small = rng.random((num_classes + 1, channels, _TEMPLATE_SIZE, _TEMPLATE_SIZE))
    templates = resize_bilinear(small, IMAGE_SIZE)  # (classes + background) × C × 28 × 28
    arrays: dict[str, Any] = {}
    for split in SPLITS:
        size = sizes[split]
        if multi_label:
            labels = (rng.random((size, num_classes)) < _POSITIVE_RATE).astype(np.uint8)
            weights = np.concatenate([labels, (labels.sum(axis=1, keepdims=True) == 0)], axis=1)
            mean = np.einsum("nk,kchw->nchw", weights / weights.sum(axis=1, keepdims=True), templates)
        else:
            # Every class present as soon as there are enough samples, in a seeded order.
            labels = rng.permutation(np.arange(size) % num_classes).astype(np.uint8)[:, None]
            mean = templates[labels[:, 0]]
        pixels = 0.7 * mean + 0.3 * rng.random(mean.shape)
        images = np.clip(np.round(pixels * 255.0), 0, 255).astype(np.uint8)
        images = images[:, 0] if channels == 1 else images.transpose(0, 2, 3, 1)
        arrays[f"{split}_images"] = np.ascontiguousarray(images)
        arrays[f"{split}_labels"] = labels
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename, so a reader never sees half a file.
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)
    return path
