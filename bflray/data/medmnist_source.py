"""MedMNIST v2's 2D sets at 28×28, read through the ``medmnist`` package's own dataset classes.

Each set is one file ``{root}/{flag}.npz`` holding ``{split}_images`` (uint8, N×28×28 or
N×28×28×C) and ``{split}_labels`` (N×1, or N×K for multi-label ChestMNIST) for the splits
train, val and test. Channels, classes and task come from ``medmnist.INFO[flag]``.

``medmnist`` is imported lazily (it pulls in torch and pandas, about 4 s); its download path
imports torchvision, which may be absent or broken: any exception from a download attempt
means "not available".
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from bflray.data.dataset import MULTI_LABEL, SPLITS, Dataset
from bflray.errors import DataError

log = logging.getLogger(__name__)

#: Every 2D MedMNIST flag (the 3D sets are not images of this kind).
MEDMNIST_2D = (
    "pathmnist", "chestmnist", "dermamnist", "octmnist", "pneumoniamnist", "retinamnist",
    "breastmnist", "bloodmnist", "tissuemnist", "organamnist", "organcmnist", "organsmnist",
)
IMAGE_SIZE = 28
_MESSAGE_CHARS = 120


class MedMNISTUnavailable(DataError):
    """A MedMNIST file that is not there (and could not be downloaded); ``why`` says so in a
    few words, the message adds what to do."""

    def __init__(self, name: str, root: str | Path, why: str) -> None:
        self.why = why
        super().__init__(f"MedMNIST {name!r}: {why}; {_remedy(name, root)}")


def medmnist_info(name: str) -> dict[str, Any]:
    """``medmnist.INFO[name]`` for a 2D flag; a :class:`DataError` names the known ones."""
    _check_name(name)
    from medmnist import INFO

    return dict(INFO[name])


def medmnist_path(name: str, root: str | Path) -> Path:
    """Where ``medmnist`` looks for the 28×28 file of ``name``: ``{root}/{name}.npz``."""
    _check_name(name)
    # medmnist names the 28×28 file without a size suffix (``_64`` etc. for larger sizes).
    return Path(root) / f"{name}.npz"


def medmnist_available(name: str, root: str | Path) -> bool:
    """Whether the file of ``name`` is under ``root`` (no download is tried)."""
    return medmnist_path(name, root).is_file()


def load_medmnist(name: str, *, root: str | Path, download: bool = False) -> Dataset:
    """All three splits of MedMNIST set ``name`` at 28×28, through its ``medmnist`` class.

    Parameters
    ----------
    name:
        A flag of :data:`MEDMNIST_2D`, e.g. ``"pathmnist"``.
    root:
        The folder holding ``{name}.npz`` (``data.root``).
    download:
        Fetch an absent file into ``root`` first. Any failure of that attempt, including
        torchvision failing to import, is reported as a :class:`DataError`.

    Returns
    -------
    Dataset
        Features N × (C·28·28) float32 in [0, 1] (channel-first), labels int64 (N,) or
        N × K for multi-label, ``split`` marking each sample's file split.
    """
    path = medmnist_path(name, root)
    if path.exists() and not path.is_file():
        raise MedMNISTUnavailable(name, root, f"{path} is not a file")
    if not path.is_file():
        if not download:
            raise MedMNISTUnavailable(name, root, f"no file at {path} (download off)")
        try:
            _download(name, Path(root))
        except Exception as exc:  # noqa: BLE001 — every failure means "not available here"
            raise MedMNISTUnavailable(
                name, root, f"no file at {path} and the download failed ({_describe(exc)})"
            ) from exc
    info = medmnist_info(name)
    _check_archive(name, path)
    parts = [_read_split(name, root, split, info) for split in SPLITS]
    features = np.concatenate([f for f, _ in parts])
    labels = np.concatenate([lab for _, lab in parts])
    split = np.concatenate([np.full(len(f), i, dtype=np.int8) for i, (f, _) in enumerate(parts)])
    return Dataset(
        name=name,
        features=features,
        labels=labels,
        num_classes=len(info["label"]),
        task=info["task"],
        channels=int(info["n_channels"]),
        image_size=IMAGE_SIZE,
        split=split,
    )


def medmnist_class(name: str) -> type:
    """The ``medmnist`` dataset class of ``name``, e.g. ``medmnist.PathMNIST``."""
    import medmnist

    return getattr(medmnist, medmnist_info(name)["python_class"])  # type: ignore[no-any-return]


def _read_split(name: str, root: str | Path, split: str, info: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    path = medmnist_path(name, root)
    try:
        data = medmnist_class(name)(split=split, root=str(root), size=IMAGE_SIZE, download=False)
        images, labels = np.asarray(data.imgs), np.asarray(data.labels)
    except Exception as exc:  # noqa: BLE001 — a corrupt or foreign file, reported with its path
        raise DataError(
            f"MedMNIST {name!r}: cannot read split {split!r} from {path} ({_describe(exc)}); "
            "the file is corrupt: remove it and download it again"
        ) from exc
    channels = int(info["n_channels"])
    shape = (IMAGE_SIZE, IMAGE_SIZE) if channels == 1 else (IMAGE_SIZE, IMAGE_SIZE, channels)
    width = len(info["label"]) if info["task"] == MULTI_LABEL else 1
    n = images.shape[0] if images.ndim else 0
    if images.shape[1:] != shape or labels.shape != (n, width):
        raise DataError(
            f"MedMNIST {name!r}: {path} split {split!r} has images {images.shape} and labels "
            f"{labels.shape}; expected N×{'×'.join(map(str, shape))} and N×{width}"
        )
    _check_values(name, path, split, images, labels, info)
    expected = info["n_samples"][split]
    if n != expected:
        # A fixture or a partial file: usable, but medmnist's own len() would refuse it.
        log.info("MedMNIST %s: split %s has %d samples where medmnist.INFO lists %d", name, split, n, expected)
    scaled = images.astype(np.float32) / 255.0
    if channels > 1:
        scaled = scaled.transpose(0, 3, 1, 2)
    features = np.ascontiguousarray(scaled.reshape(n, -1))
    flat_labels = labels.astype(np.int64) if width > 1 else labels[:, 0].astype(np.int64)
    return features, flat_labels


def _check_archive(name: str, path: Path) -> None:
    """A clear error for a file that is not a NumPy ``.npz`` archive or lacks one of the arrays
    MedMNIST's layout has (``{split}_images`` and ``{split}_labels`` for every split)."""
    if not zipfile.is_zipfile(path):
        raise DataError(
            f"MedMNIST {name!r}: {path} is not a .npz archive (truncated, or not written by numpy.savez); "
            "remove it and download it again"
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            present = {key.removesuffix(".npy") for key in archive.files}
    except Exception as exc:  # noqa: BLE001 — a damaged central directory, reported with its path
        raise DataError(
            f"MedMNIST {name!r}: cannot open {path} ({_describe(exc)}); remove it and download it again"
        ) from exc
    wanted = [f"{split}_{kind}" for split in SPLITS for kind in ("images", "labels")]
    missing = [key for key in wanted if key not in present]
    if missing:
        held = ", ".join(sorted(present)) or "nothing"
        raise DataError(
            f"MedMNIST {name!r}: {path} has no array {', '.join(missing)} (it holds {held}); "
            f"a MedMNIST file holds {', '.join(wanted)}"
        )


def _check_values(
    name: str, path: Path, split: str, images: np.ndarray, labels: np.ndarray, info: dict[str, Any]
) -> None:
    """Pixels are MedMNIST's uint8; labels are class indices (0/1 indicators for multi-label)."""
    where = f"MedMNIST {name!r}: {path} split {split!r}"
    if images.dtype != np.uint8:
        raise DataError(f"{where} has images of dtype {images.dtype}; expected uint8 pixels 0…255")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{where} has labels of dtype {labels.dtype}; expected integer class indices")
    if not labels.size:
        return
    high = 1 if info["task"] == MULTI_LABEL else len(info["label"]) - 1
    low_found, high_found = int(labels.min()), int(labels.max())
    if low_found < 0 or high_found > high:
        bad = low_found if low_found < 0 else high_found
        raise DataError(f"{where} has label {bad}; expected labels 0…{high} ({len(info['label'])} classes)")


def _download(name: str, root: Path) -> None:
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    try:
        medmnist_class(name)(split="train", root=str(root), size=IMAGE_SIZE, download=True)
    except BaseException:
        if created and not any(root.iterdir()):
            root.rmdir()
        raise


def _describe(exc: BaseException) -> str:
    # medmnist re-raises a generic message; the exception it caught says why (e.g. torchvision).
    # A corrupt file's bytes can end up in the message: keep one short printable line of each.
    parts: list[str] = []
    while exc is not None and len(parts) < 3:
        text = str(exc).strip()
        first = "".join(c if c.isprintable() else "?" for c in (text.splitlines()[0] if text else ""))
        if len(first) > _MESSAGE_CHARS:
            first = first[: _MESSAGE_CHARS - 1] + "…"
        part = f"{type(exc).__name__}: {first}".rstrip(": ")
        if not parts or parts[-1] != part:
            parts.append(part)
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return "; caused by ".join(parts)


def _remedy(name: str, root: str | Path) -> str:
    return (
        f"put {name}.npz (from {medmnist_info(name)['url']}) in data.root={str(root)!r}, "
        f"or write a small test file with `bflray data fixture {name} --n 100 --root {root}`, "
        'or set data.source="auto" to fall back to the offline digits28'
    )


def _check_name(name: str) -> None:
    if name not in MEDMNIST_2D:
        raise DataError(f"{name!r} is not a 2D MedMNIST set; known: {', '.join(MEDMNIST_2D)}")
