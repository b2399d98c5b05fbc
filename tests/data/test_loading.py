"""Loading datasets by name and resolving ``data.source``."""

from __future__ import annotations

from pathlib import Path

import medmnist
import numpy as np
import pytest
import torch

from bflray.config import DataConfig
from bflray.data import (
    load_data,
    load_dataset,
    load_medmnist,
    resize_bilinear,
    split_train_test,
    write_fixture,
)
from bflray.errors import DataError


@pytest.mark.parametrize(
    ("name", "channels", "classes", "task", "label_shape"),
    [
        ("pathmnist", 3, 9, "multi-class", ()),
        ("chestmnist", 1, 14, "multi-label, binary-class", (14,)),
        ("pneumoniamnist", 1, 2, "binary-class", ()),
        ("retinamnist", 3, 5, "ordinal-regression", ()),
    ],
)
def test_loader_gives_shapes_and_task_from_medmnist_info(
    tmp_path: Path, name: str, channels: int, classes: int, task: str, label_shape: tuple[int, ...]
) -> None:
    write_fixture(name, 12, root=tmp_path)

    ds = load_medmnist(name, root=tmp_path)

    assert (ds.task, ds.channels, ds.num_classes, ds.image_size) == (task, channels, classes, 28)
    assert ds.features.shape == (18, channels * 28 * 28) and ds.features.dtype == np.float32
    assert ds.images.shape == (18, channels, 28, 28)
    assert ds.labels.shape == (18, *label_shape) and ds.labels.dtype == np.int64
    assert 0.0 <= ds.features.min() and ds.features.max() <= 1.0
    assert [len(ds.split_indices(s)) for s in ("train", "val", "test")] == [12, 3, 3]


def test_loader_keeps_channels_first_pixels_of_the_file(tmp_path: Path) -> None:
    write_fixture("bloodmnist", 4, root=tmp_path)
    raw = medmnist.BloodMNIST(split="train", root=str(tmp_path), size=28).imgs

    ds = load_medmnist("bloodmnist", root=tmp_path)

    np.testing.assert_allclose(ds.images[1, 2], raw[1, :, :, 2] / 255.0, rtol=1e-6)


def test_split_train_test_holds_out_the_files_test_split(tmp_path: Path) -> None:
    write_fixture("dermamnist", 8, root=tmp_path)
    ds = load_medmnist("dermamnist", root=tmp_path)

    pool, test = split_train_test(ds, test_fraction=0.5, seed=0)

    assert np.array_equal(test, ds.split_indices("test"))
    assert np.array_equal(pool, np.sort(np.concatenate([ds.split_indices("train"), ds.split_indices("val")])))


def test_absent_file_names_the_dataset_path_and_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        load_medmnist("octmnist", root=tmp_path, download=False)
    message = str(info.value)
    assert "'octmnist'" in message and str(tmp_path / "octmnist.npz") in message
    assert "bflray data fixture octmnist" in message and 'data.source="auto"' in message


def test_failed_download_is_a_data_error_and_leaves_no_empty_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(self: object) -> None:
        raise OSError("network unreachable")

    monkeypatch.setattr(medmnist.OrganAMNIST, "download", offline)
    root = tmp_path / "fresh"

    with pytest.raises(DataError, match=r"download failed \(OSError: network unreachable\)"):
        load_medmnist("organamnist", root=root, download=True)
    assert not root.exists()


def test_auto_falls_back_to_digits28_and_says_why(tmp_path: Path) -> None:
    config = DataConfig(dataset="pathmnist", source="auto", root=str(tmp_path), download=False)

    loaded = load_data(config)

    assert loaded.source_used == "offline" and loaded.dataset.name == "digits28"
    assert loaded.fallback_reason is not None
    assert "'pathmnist'" in loaded.fallback_reason and "digits28" in loaded.fallback_reason
    assert str(tmp_path / "pathmnist.npz") in loaded.fallback_reason


def test_auto_uses_medmnist_when_the_file_is_there(tmp_path: Path) -> None:
    write_fixture("pneumoniamnist", 8, root=tmp_path)

    loaded = load_data(DataConfig(dataset="pneumoniamnist", root=str(tmp_path)))

    assert (loaded.source_used, loaded.fallback_reason, loaded.dataset.name) == ("medmnist", None, "pneumoniamnist")


def test_auto_does_not_paper_over_a_corrupt_file(tmp_path: Path) -> None:
    (tmp_path / "pathmnist.npz").write_bytes(b"not a zip file")
    with pytest.raises(DataError, match="pathmnist.npz is not a .npz archive"):
        load_data(DataConfig(dataset="pathmnist", root=str(tmp_path), download=False))


def test_source_medmnist_requires_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no file at"):
        load_data(DataConfig(dataset="chestmnist", source="medmnist", root=str(tmp_path), download=False))


def test_source_medmnist_refuses_an_offline_dataset() -> None:
    with pytest.raises(DataError, match="data.source='medmnist' needs a MedMNIST data.dataset"):
        load_data(DataConfig(dataset="digits", source="medmnist"))


def test_source_offline_uses_digits28_for_a_medmnist_name(tmp_path: Path) -> None:
    write_fixture("pathmnist", 4, root=tmp_path)

    loaded = load_data(DataConfig(dataset="pathmnist", source="offline", root=str(tmp_path)))

    assert loaded.dataset.name == "digits28" and "data.source='offline'" in (loaded.fallback_reason or "")


def test_digits_keeps_its_8x8_features() -> None:
    ds = load_dataset("digits")
    assert ds.features.shape == (1797, 64) and ds.labels.shape == (1797,) and ds.num_classes == 10
    assert (ds.image_size, ds.channels, ds.task, ds.split) == (8, 1, "multi-class", None)
    assert load_data(DataConfig()).dataset.features.shape == (1797, 64)


def test_digits28_is_digits_resized_to_28x28() -> None:
    small, big = load_dataset("digits"), load_dataset("digits28")
    assert big.images.shape == (1797, 1, 28, 28) and big.features.dtype == np.float32
    assert np.array_equal(small.labels, big.labels)
    assert abs(float(big.features.mean()) - float(small.features.mean())) < 0.02


def test_bilinear_resize_matches_torch_interpolate() -> None:
    images = np.random.default_rng(0).random((3, 8, 8))
    expected = torch.nn.functional.interpolate(
        torch.from_numpy(images)[:, None], size=(28, 28), mode="bilinear", align_corners=False
    )[:, 0].numpy()
    np.testing.assert_allclose(resize_bilinear(images, 28), expected, atol=1e-12)


def test_unknown_dataset_name_is_a_data_error() -> None:
    with pytest.raises(DataError, match="data.dataset='cifar' is not a known dataset"):
        load_dataset("cifar")
