"""Datasets (offline digits, MedMNIST) and their partition over hospitals."""

from __future__ import annotations

from bflray.data.dataset import SPLITS, TASKS, Dataset, split_train_test
from bflray.data.digits import load_digits28_dataset, load_digits_dataset, resize_bilinear
from bflray.data.fixture import info_split_sizes, write_fixture
from bflray.data.hospital_split import PARTITION_SCHEMES, HospitalSplit, partition_hospitals, split_validation
from bflray.data.loading import DATASETS, SOURCES, LoadedData, load_data, load_dataset
from bflray.data.medmnist_source import (
    MEDMNIST_2D,
    MedMNISTUnavailable,
    load_medmnist,
    medmnist_available,
    medmnist_path,
)
from bflray.data.partition import (
    label_keys,
    partition_dirichlet,
    partition_iid,
    partition_quantity,
    partition_ranges,
)

__all__ = [
    "DATASETS",
    "MEDMNIST_2D",
    "PARTITION_SCHEMES",
    "SOURCES",
    "SPLITS",
    "TASKS",
    "Dataset",
    "HospitalSplit",
    "LoadedData",
    "MedMNISTUnavailable",
    "info_split_sizes",
    "label_keys",
    "load_data",
    "load_dataset",
    "load_digits28_dataset",
    "load_digits_dataset",
    "load_medmnist",
    "medmnist_available",
    "medmnist_path",
    "partition_dirichlet",
    "partition_hospitals",
    "partition_iid",
    "partition_quantity",
    "partition_ranges",
    "resize_bilinear",
    "split_train_test",
    "split_validation",
    "write_fixture",
]
