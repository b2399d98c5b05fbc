"""Datasets and their partition over hospitals."""

from __future__ import annotations

from bflray.data.dataset import Dataset, split_train_test
from bflray.data.digits import load_digits_dataset
from bflray.data.partition import partition_iid
from bflray.errors import DataError


def load_dataset(name: str) -> Dataset:
    """Load a dataset by its config name."""
    if name == "digits":
        return load_digits_dataset()
    raise DataError(f"data.dataset={name!r} is not a known dataset; known: digits")


__all__ = ["Dataset", "load_dataset", "load_digits_dataset", "partition_iid", "split_train_test"]
