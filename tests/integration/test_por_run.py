"""The PoR pipeline end to end on a real anvil (and a real local Ray cluster where marked)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from bflray.api import run
from bflray.chain import Chain, leaf, merkle_root
from bflray.config import Config, load_config
from bflray.por import EDITransaction
from bflray.store import BlobStore

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _config(*extra: str) -> Config:
    return load_config(
        ROOT / "configs" / "por.toml",
        [
            "experiment.rounds=2", "federation.hospitals=4", "runtime.backend=inprocess", "metrics.enabled=false",
            "mae.epochs=2", "mae.width=32", "mae.decoder_width=16", "training.local_epochs=1", "training.warmup_epochs=0",
            "data.source=offline",
            *extra,
        ],
    )


def _model(run_dir: Path) -> np.ndarray:
    with np.load(run_dir / "model.npz") as data:
        return data["params"]


def test_por_run_commits_edi_transactions_whose_root_is_on_chain(tmp_path: Path) -> None:
    config = _config()
    with Chain.open(config.chain) as chain:
        result = run(config.model_copy(update={"chain": config.chain.model_copy(update={"url": chain.url})}),
                     out_dir=tmp_path, progress=False)
        address = json.loads((result.run_dir / "chain.json").read_text())["addresses"]["FederationLedger"]
        ledger = type(chain.ledger)(chain.signer, address)
        store = BlobStore(result.run_dir / "store")
        for r in (1, 2):
            manifest = store.get_manifest(r)
            txs = [EDITransaction.decode(store.get(h)) for h in manifest.payload_hashes]
            assert [tx.hospital for tx in txs] == list(manifest.hospital_ids) == [0, 1, 2, 3]
            assert all(tx.round == r and tx.kappa.shape[0] == 1 for tx in txs)
            root = merkle_root([leaf(tx.hospital, tx.hash) for tx in txs])
            assert ledger.payload_root(r) == root
    rows = pq.read_table(result.run_dir / "hospitals.parquet").to_pylist()
    assert len(rows) == 8 and all(r["por_valid"] for r in rows)
    assert sorted(r["por_rank"] for r in rows if r["round"] == 1) == [1, 2, 3, 4]
    assert sum(r["aggregation_weight"] for r in rows if r["round"] == 2) == pytest.approx(1.0)
    assert json.loads((result.run_dir / "data.json").read_text())["dataset"] == "digits28"
    assert result.rounds[-1]["por_excluded"] == 0


def test_second_run_reuses_cached_encoders_and_gets_the_same_model(tmp_path: Path) -> None:
    first = run(_config("mae.mode='per_hospital'"), out_dir=tmp_path, progress=False)
    second = run(_config("mae.mode='per_hospital'"), out_dir=tmp_path, progress=False)
    a = json.loads((first.run_dir / "encoders.json").read_text())
    b = json.loads((second.run_dir / "encoders.json").read_text())
    assert (a["pretrained"], a["from_cache"]) == (4, 0)
    assert (b["pretrained"], b["from_cache"]) == (0, 4)
    assert len(list((second.run_dir / "encoders").glob("*.pt"))) == 4
    np.testing.assert_array_equal(_model(first.run_dir), _model(second.run_dir))


def test_averaged_encoders_are_one_shared_encoder(tmp_path: Path) -> None:
    result = run(_config("mae.mode='averaged'", "experiment.rounds=1"), out_dir=tmp_path, progress=False)
    rows = pq.read_table(result.run_dir / "hospitals.parquet").to_pylist()
    assert len(rows) == 4
    assert result.rounds[0]["accuracy_worst_decile"] == pytest.approx(result.rounds[0]["accuracy"])


@pytest.mark.ray
def test_por_on_ray_equals_por_in_process(tmp_path: Path, ray_cluster: None) -> None:
    local = run(_config(), out_dir=tmp_path / "local", progress=False)
    remote = run(_config("runtime.backend=ray", "runtime.hospitals_per_actor=3"), out_dir=tmp_path / "ray", progress=False)
    np.testing.assert_allclose(_model(remote.run_dir), _model(local.run_dir), atol=1e-6)
