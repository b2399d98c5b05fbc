"""Whole runs on a multi-label task: the ChestMNIST fixture (14 findings per image, read by the
real ``medmnist`` classes), in-process hospitals, a real anvil.

FedAvg learns the findings (macro AUROC well above chance), a backdoor's success rate is
measured on findings, and the PoR pipeline validates, scores and aggregates multi-label
transactions, excluding forged ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from bflray.api import run
from bflray.config import load_config
from bflray.data.fixture import write_fixture

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def chest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("chest")
    write_fixture("chestmnist", 800, root=root)
    return root


def _data(root: Path) -> list[str]:
    return ["runtime.backend=inprocess", "metrics.enabled=false", "data.dataset=chestmnist", "data.source=medmnist",
            f"data.root='{root}'"]


def _fedavg(root: Path, tmp_path: Path, *extra: str) -> list[dict[str, Any]]:
    overrides = [*_data(root), "federation.hospitals=6", "experiment.rounds=6", "model.name=head", "model.hidden=32",
                 "training.local_epochs=2", "training.learning_rate=0.1", *extra]
    return run(load_config(ROOT / "configs" / "fedavg.toml", overrides), out_dir=tmp_path, progress=False).rounds


def test_fedavg_learns_the_findings(chest: Path, tmp_path: Path) -> None:
    rounds = _fedavg(chest, tmp_path)
    first, last = rounds[0], rounds[-1]
    assert last["loss"] < first["loss"]
    assert last["auroc"] > 0.9  # chance is 0.5
    for name in ("accuracy", "precision", "recall", "f1"):
        assert 0.0 <= last[name] <= 1.0, name


def test_a_backdoor_on_findings_is_measured(chest: Path, tmp_path: Path) -> None:
    attack = ("attack.kind=backdoor", "attack.target_class=3")
    clean = _fedavg(chest, tmp_path, *attack, "attack.malicious_fraction=0")
    attacked = _fedavg(chest, tmp_path, *attack, "attack.malicious_fraction=0.5")
    assert clean[-1]["attack_success_rate"] < 0.1
    assert attacked[-1]["attack_success_rate"] > clean[-1]["attack_success_rate"] + 0.3


def test_por_ranks_multi_label_classifiers_and_excludes_forged_outputs(chest: Path, tmp_path: Path) -> None:
    overrides = [*_data(chest), "federation.hospitals=6", "experiment.rounds=2", "mae.epochs=1", "mae.width=32",
                 "mae.decoder_width=16", "training.local_epochs=1", "training.warmup_epochs=3", "por.tuples=8",
                 "attack.kind=forged_outputs", "attack.malicious_fraction=0.34"]
    result = run(load_config(ROOT / "configs" / "por.toml", overrides), out_dir=tmp_path, progress=False)
    table = pq.read_table(result.run_dir / "hospitals.parquet").to_pandas()
    last = table[table["round"] == 2]
    malicious = last["malicious"].to_numpy(bool)
    assert malicious.sum() == 2
    assert not last["por_valid"].to_numpy(bool)[malicious].any()
    assert last["por_valid"].to_numpy(bool)[~malicious].all()
    assert (last["por_score"].to_numpy()[~malicious] > 0).all()  # rank points: ≥ 1 per label and datapoint
    assert result.rounds[-1]["por_excluded"] == 2
    assert 0.0 < result.rounds[-1]["accuracy"] <= 1.0
