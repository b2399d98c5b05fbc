"""Load a dataset by its config name, and resolve ``data.source`` (MedMNIST or offline).

``data.source`` decides what a MedMNIST name means when its file is not there:

- ``"medmnist"``: the MedMNIST set is required; an absent file and a failed download raise a
  :class:`DataError` naming the set, the path looked for and what to do.
- ``"offline"``: use the offline ``digits28`` (scikit-learn's digits at 28×28) instead.
- ``"auto"``: MedMNIST when its file is under ``data.root`` (or downloads), else
  ``digits28`` (a file that is there but corrupt is still an error); :class:`LoadedData`
  says so, and why, in ``fallback_reason`` for the run's log and run directory.

The offline names (``digits``, ``digits28``) load the same under every source except
``"medmnist"``, which refuses them as a contradiction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from bflray.data.dataset import Dataset
from bflray.data.digits import load_digits28_dataset, load_digits_dataset
from bflray.data.medmnist_source import MEDMNIST_2D, MedMNISTUnavailable, load_medmnist
from bflray.errors import DataError

log = logging.getLogger(__name__)

OFFLINE_DATASETS = ("digits", "digits28")
DATASETS = OFFLINE_DATASETS + MEDMNIST_2D
SOURCES = ("auto", "medmnist", "offline")
#: What a MedMNIST name becomes offline: real images at MedMNIST's 28×28.
FALLBACK_DATASET = "digits28"


class DataSource(Protocol):
    """The keys of ``[data]`` that choose a dataset (``bflray.config.DataConfig`` has them)."""

    @property
    def dataset(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def root(self) -> str: ...
    @property
    def download(self) -> bool: ...


@dataclass(frozen=True)
class LoadedData:
    """A loaded dataset and how it was found.

    Attributes
    ----------
    dataset:
        The data the run uses.
    source_used:
        ``"medmnist"`` or ``"offline"``.
    fallback_reason:
        ``None`` when ``dataset`` is the configured one; otherwise one line saying what was
        asked for, why it is not used and what is used instead (record it in the run's log
        and run directory).
    """

    dataset: Dataset
    source_used: Literal["medmnist", "offline"]
    fallback_reason: str | None = None


def load_dataset(name: str, *, root: str | Path = "data", download: bool = False) -> Dataset:
    """Load dataset ``name`` (one of :data:`DATASETS`), with no fallback.

    ``root`` and ``download`` matter only for MedMNIST names; see
    :func:`bflray.data.load_medmnist`.
    """
    if name == "digits":
        return load_digits_dataset()
    if name == "digits28":
        return load_digits28_dataset()
    if name in MEDMNIST_2D:
        return load_medmnist(name, root=root, download=download)
    raise DataError(f"data.dataset={name!r} is not a known dataset; known: {', '.join(DATASETS)}")


def load_data(config: DataSource) -> LoadedData:
    """Load ``config.dataset`` as ``config.source`` says (see the module docstring)."""
    name, source = config.dataset, config.source
    if source not in SOURCES:
        raise DataError(f"data.source={source!r} is not one of {', '.join(SOURCES)}")
    if name in OFFLINE_DATASETS:
        if source == "medmnist":
            raise DataError(
                f"data.source='medmnist' needs a MedMNIST data.dataset ({', '.join(MEDMNIST_2D)}), got {name!r}"
            )
        return LoadedData(load_dataset(name), "offline")
    if name not in MEDMNIST_2D:
        load_dataset(name)  # raises the unknown-name error
    if source == "offline":
        reason = f"data.source='offline': using {FALLBACK_DATASET} instead of MedMNIST {name!r}"
        log.warning("%s", reason)
        return LoadedData(load_dataset(FALLBACK_DATASET), "offline", reason)
    try:
        return LoadedData(load_medmnist(name, root=config.root, download=config.download), "medmnist")
    except MedMNISTUnavailable as exc:
        if source == "medmnist":
            raise
        # Only an absent file falls back: one that is there but unreadable is a mistake to show.
        reason = (
            f"data.source='auto': MedMNIST {name!r} is not available ({exc.why}), so the run uses the offline "
            f"{FALLBACK_DATASET} instead; put {name}.npz in data.root={config.root!r} to use it"
        )
        log.warning("%s", reason)
        return LoadedData(load_dataset(FALLBACK_DATASET), "offline", reason)
