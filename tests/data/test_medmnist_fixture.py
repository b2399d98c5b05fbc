"""Fixture files in MedMNIST's layout are read by the real ``medmnist`` dataset classes."""

from __future__ import annotations

from pathlib import Path

import medmnist
import numpy as np
import pytest

from bflray.cli import main
from bflray.data import MEDMNIST_2D, info_split_sizes, write_fixture
from bflray.errors import DataError


def test_every_2d_flag_of_medmnist_info_is_known() -> None:
    assert set(MEDMNIST_2D) == {name for name in medmnist.INFO if not name.endswith("3d")}


def test_pathmnist_fixture_is_read_by_medmnist_pathmnist(tmp_path: Path) -> None:
    path = write_fixture("pathmnist", 20, root=tmp_path, seed=1)

    data = medmnist.PathMNIST(split="train", root=str(tmp_path), size=28, download=False)
    image, target = data[3]

    assert path == tmp_path / "pathmnist.npz"
    assert data.imgs.shape == (20, 28, 28, 3) and data.imgs.dtype == np.uint8
    assert data.labels.shape == (20, 1)
    assert image.size == (28, 28) and image.mode == "RGB"
    assert 0 <= int(target[0]) < 9
    assert medmnist.PathMNIST(split="test", root=str(tmp_path), size=28).imgs.shape == (5, 28, 28, 3)


def test_chestmnist_fixture_has_multi_label_rows(tmp_path: Path) -> None:
    write_fixture("chestmnist", 16, root=tmp_path, n_val=3, n_test=4)

    data = medmnist.ChestMNIST(split="val", root=str(tmp_path), size=28, download=False)

    assert data.imgs.shape == (3, 28, 28)
    assert data.labels.shape == (3, 14) and set(np.unique(data.labels)) <= {0, 1}
    assert data[0][1].shape == (14,)


def test_pneumoniamnist_fixture_is_binary_with_both_classes(tmp_path: Path) -> None:
    write_fixture("pneumoniamnist", 10, root=tmp_path)

    data = medmnist.PneumoniaMNIST(split="train", root=str(tmp_path), size=28, download=False)

    assert data.imgs.shape == (10, 28, 28)
    assert sorted(np.unique(data.labels)) == [0, 1]


def test_fixture_of_the_info_sizes_passes_medmnists_own_length_check(tmp_path: Path) -> None:
    sizes = info_split_sizes("breastmnist")  # 780 images in all: the smallest 2D set
    write_fixture("breastmnist", sizes["train"], n_val=sizes["val"], n_test=sizes["test"], root=tmp_path)

    for split, n in sizes.items():
        assert len(medmnist.BreastMNIST(split=split, root=str(tmp_path), size=28)) == n


def test_fixture_is_repeatable_for_a_seed_and_differs_across_seeds(tmp_path: Path) -> None:
    a = np.load(write_fixture("dermamnist", 8, root=tmp_path / "a", seed=3))["train_images"]
    b = np.load(write_fixture("dermamnist", 8, root=tmp_path / "b", seed=3))["train_images"]
    c = np.load(write_fixture("dermamnist", 8, root=tmp_path / "c", seed=4))["train_images"]
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_fixture_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    write_fixture("bloodmnist", 4, root=tmp_path)
    with pytest.raises(DataError, match="already exists"):
        write_fixture("bloodmnist", 4, root=tmp_path)
    write_fixture("bloodmnist", 6, root=tmp_path, overwrite=True)
    assert np.load(tmp_path / "bloodmnist.npz")["train_images"].shape[0] == 6


def test_fixture_of_an_unknown_name_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="'cifar10' is not a 2D MedMNIST set"):
        write_fixture("cifar10", 4, root=tmp_path)


def test_cli_data_fixture_writes_a_file_medmnist_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["data", "fixture", "pneumoniamnist", "--n", "12", "--root", str(tmp_path), "--seed", "2"])

    assert code == 0
    assert str(tmp_path / "pneumoniamnist.npz") in capsys.readouterr().out
    assert medmnist.PneumoniaMNIST(split="train", root=str(tmp_path), size=28).imgs.shape == (12, 28, 28)


def test_cli_data_fixture_reports_a_users_mistake_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "fixture", "nosuchmnist", "--n", "4", "--root", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert err.startswith("bflray: error: 'nosuchmnist' is not a 2D MedMNIST set") and err.count("\n") == 1
