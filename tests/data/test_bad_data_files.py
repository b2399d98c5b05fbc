"""A missing or corrupt MedMNIST file: one line that names the path and what is wrong; with
``data.source = "auto"`` only an absent file falls back to the offline digits28, and says why."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import medmnist
import numpy as np
import pytest

from bflray.config import DataConfig
from bflray.data import load_data, write_fixture
from bflray.errors import DataError

NAME = "pneumoniamnist"  # 1 channel, 2 classes


def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(self: object) -> None:
        raise OSError("[Errno 101] Network is unreachable")

    monkeypatch.setattr(medmnist.PneumoniaMNIST, "download", unreachable)


def _arrays(**changes: np.ndarray) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for split in ("train", "val", "test"):
        arrays[f"{split}_images"] = np.zeros((4, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = np.zeros((4, 1), dtype=np.uint8)
    arrays.update(changes)
    return arrays


def _garbage(path: Path) -> None:
    path.write_bytes(b"<html>404 Not Found</html>")


def _truncated(path: Path) -> None:
    write_fixture(NAME, 16, root=path.parent)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _missing_split(path: Path) -> None:
    arrays = _arrays()
    del arrays["test_images"], arrays["test_labels"]
    np.savez(path, **arrays)


def _wrong_image_shape(path: Path) -> None:
    np.savez(path, **_arrays(train_images=np.zeros((4, 32, 32), dtype=np.uint8)))


def _float_pixels(path: Path) -> None:
    np.savez(path, **_arrays(val_images=np.full((4, 28, 28), np.nan, dtype=np.float32)))


def _label_out_of_range(path: Path) -> None:
    np.savez(path, **_arrays(test_labels=np.full((4, 1), 7, dtype=np.uint8)))


def _folder(path: Path) -> None:
    os.mkdir(path)


@pytest.mark.parametrize(
    ("corrupt", "problem"),
    [
        pytest.param(_garbage, "is not a .npz archive (truncated, or not written by numpy.savez)", id="garbage"),
        pytest.param(_truncated, "is not a .npz archive (truncated, or not written by numpy.savez)", id="truncated"),
        pytest.param(
            _missing_split,
            "has no array test_images, test_labels (it holds train_images, train_labels, val_images, val_labels)",
            id="missing-keys",
        ),
        pytest.param(
            _wrong_image_shape, "split 'train' has images (4, 32, 32) and labels (4, 1); expected N×28×28 and N×1",
            id="wrong-image-shape",
        ),
        pytest.param(
            _float_pixels, "split 'val' has images of dtype float32; expected uint8 pixels 0…255", id="float-pixels"
        ),
        pytest.param(
            _label_out_of_range, "split 'test' has label 7; expected labels 0…1 (2 classes)", id="label-out-of-range"
        ),
    ],
)
@pytest.mark.parametrize("source", ["medmnist", "auto"])
def test_a_corrupt_file_is_one_line_naming_path_and_problem_and_auto_does_not_fall_back(
    tmp_path: Path, corrupt: Callable[[Path], None], problem: str, source: str
) -> None:
    # Prepare
    path = tmp_path / f"{NAME}.npz"
    corrupt(path)
    # Execute
    with pytest.raises(DataError) as info:
        load_data(DataConfig(dataset=NAME, source=source, root=str(tmp_path), download=False))
    # Assert
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"MedMNIST {NAME!r}: {path} ")
    assert problem in message


def test_a_folder_where_the_file_should_be_names_the_path(tmp_path: Path) -> None:
    _folder(tmp_path / f"{NAME}.npz")
    with pytest.raises(DataError) as info:
        load_data(DataConfig(dataset=NAME, source="medmnist", root=str(tmp_path), download=False))
    assert str(info.value).startswith(f"MedMNIST {NAME!r}: {tmp_path / f'{NAME}.npz'} is not a file; put ")


def test_a_missing_file_without_network_names_the_path_and_the_failed_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: the file is absent and the download cannot reach the network
    _no_network(monkeypatch)
    # Execute
    with pytest.raises(DataError) as info:
        load_data(DataConfig(dataset=NAME, source="medmnist", root=str(tmp_path), download=True))
    # Assert
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(
        f"MedMNIST {NAME!r}: no file at {tmp_path / f'{NAME}.npz'} and the download failed "
        "(OSError: [Errno 101] Network is unreachable); put pneumoniamnist.npz (from https://"
    )


def test_auto_without_the_file_or_network_falls_back_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_network(monkeypatch)

    loaded = load_data(DataConfig(dataset=NAME, source="auto", root=str(tmp_path), download=True))

    assert (loaded.source_used, loaded.dataset.name) == ("offline", "digits28")
    assert loaded.fallback_reason == (
        f"data.source='auto': MedMNIST {NAME!r} is not available (no file at {tmp_path / f'{NAME}.npz'} and the "
        "download failed (OSError: [Errno 101] Network is unreachable)), so the run uses the offline digits28 "
        f"instead; put {NAME}.npz in data.root={str(tmp_path)!r} to use it"
    )


def test_auto_with_download_off_says_the_file_is_absent(tmp_path: Path) -> None:
    loaded = load_data(DataConfig(dataset=NAME, source="auto", root=str(tmp_path), download=False))
    assert loaded.fallback_reason is not None and "\n" not in loaded.fallback_reason
    assert f"is not available (no file at {tmp_path / f'{NAME}.npz'} (download off))" in loaded.fallback_reason


def test_a_damaged_member_of_a_valid_archive_is_one_line_naming_path_and_split(tmp_path: Path) -> None:
    # Prepare: the zip directory is intact but the first member's bytes are not
    path = write_fixture(NAME, 16, root=tmp_path)
    data = bytearray(path.read_bytes())
    data[40:120] = bytes(80)
    path.write_bytes(bytes(data))
    # Execute
    with pytest.raises(DataError) as info:
        load_data(DataConfig(dataset=NAME, source="auto", root=str(tmp_path), download=False))
    # Assert
    message = str(info.value)
    assert "\n" not in message and len(message) < 600
    assert message.startswith(f"MedMNIST {NAME!r}: cannot read split 'train' from {path} (")
    assert message.endswith("); the file is corrupt: remove it and download it again")
