"""The first federated round end to end, on a real anvil (and real Ray where marked)."""

from __future__ import annotations

import json
import threading
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bflray.api import run
from bflray.chain import Chain, leaf, merkle_root
from bflray.chain.merkle import keccak
from bflray.config import Config, load_config
from bflray.errors import BackendError
from bflray.protocol import InProcessBackend
from bflray.store import BlobStore, read_rows

pytestmark = pytest.mark.integration


def _config(*extra: str) -> Config:
    return load_config(
        None,
        ["experiment.rounds=3", "federation.hospitals=6", "runtime.backend=inprocess", "metrics.enabled=false", *extra],
    )


def _model(run_dir: Path) -> np.ndarray:
    with np.load(run_dir / "model.npz") as data:
        return data["params"]


def test_run_writes_a_complete_run_directory(tmp_path: Path) -> None:
    result = run(_config(), out_dir=tmp_path, progress=False)
    d = result.run_dir
    assert d.parent == tmp_path and d.name.startswith("demo-")
    for name in ("config.toml", "rounds.parquet", "model.npz", "versions.json", "chain.json", "summary.json", "run.log"):
        assert (d / name).is_file(), name
    rows = read_rows(d / "rounds.parquet")
    assert [r["round"] for r in rows] == [1, 2, 3]
    for key in ("accuracy", "loss", "seconds_train", "seconds_commit", "gas_used", "onchain_bytes"):
        assert all(r[key] is not None for r in rows), key
    assert rows[-1]["accuracy"] > rows[0]["accuracy"] > 0.1
    assert all(r["gas_used"] > 21_000 for r in rows)
    versions = json.loads((d / "versions.json").read_text())
    assert versions["contracts"]["solc"].startswith("0.8.")
    assert versions["anvil"].startswith("1.7")
    assert versions["packages"]["torch"].startswith("2.")
    assert not (d / "metrics.json").exists()  # metrics.enabled = false


def test_merkle_root_on_chain_equals_root_recomputed_from_store(tmp_path: Path) -> None:
    # Prepare: a run whose chain outlives it, so its records can be read back
    config = _config()
    with Chain.open(config.chain) as chain:
        config = load_config(None, [*_overrides(config), f"chain.url='{chain.url}'"])
        # Execute
        result = run(config, out_dir=tmp_path, progress=False)
        # Assert: re-hash every payload file and rebuild each round's tree
        ledger_address = json.loads((result.run_dir / "chain.json").read_text())["addresses"]["FederationLedger"]
        ledger = type(chain.ledger)(chain.signer, ledger_address)
        store = BlobStore(result.run_dir / "store")
        for r in (1, 2, 3):
            manifest = store.get_manifest(r)
            hashes = [keccak(store.get(h)) for h in manifest.payload_hashes]
            recomputed = merkle_root([leaf(i, h) for i, h in zip(manifest.hospital_ids, hashes, strict=True)])
            assert ledger.payload_root(r) == recomputed
            assert len(manifest.hospital_ids) == 6
        final_hash = ledger.model_hash(3)
        assert final_hash == keccak(_model(result.run_dir).astype("<f4").tobytes())


def _overrides(config: Config) -> list[str]:
    return [
        f"experiment.rounds={config.experiment.rounds}",
        f"federation.hospitals={config.federation.hospitals}",
        "runtime.backend=inprocess",
        "metrics.enabled=false",
    ]


def test_run_directory_alone_reproduces_the_model(tmp_path: Path) -> None:
    first = run(_config("experiment.seed=11"), out_dir=tmp_path / "a", progress=False)
    again = run(load_config(first.run_dir / "config.toml"), out_dir=tmp_path / "b", progress=False)
    np.testing.assert_array_equal(_model(first.run_dir), _model(again.run_dir))
    other = run(_config("experiment.seed=12"), out_dir=tmp_path / "c", progress=False)
    assert not np.array_equal(_model(first.run_dir), _model(other.run_dir))


def test_a_finished_run_is_never_overwritten(tmp_path: Path) -> None:
    a = run(_config("experiment.rounds=1"), out_dir=tmp_path, progress=False)
    b = run(_config("experiment.rounds=1"), out_dir=tmp_path, progress=False)
    assert a.run_dir != b.run_dir and (a.run_dir / "model.npz").is_file()


class _PausingBackend(InProcessBackend):
    """An injected pause: round 2's training waits until the test has scraped the endpoint."""

    def __init__(self) -> None:
        super().__init__()
        self.in_round_2 = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    def call(self, method: str, *args: Any, missing_ok: bool = False) -> list[Any]:
        if method == "train":
            self.calls += 1
            if self.calls == 2:
                self.in_round_2.set()
                self.release.wait(30)
        return super().call(method, *args, missing_ok=missing_ok)


def test_prometheus_endpoint_serves_stage_histogram_during_the_run(tmp_path: Path) -> None:
    backend = _PausingBackend()
    config = _config("metrics.enabled=true", "metrics.port=0")
    outcome: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: outcome.update(r=run(config, out_dir=tmp_path, backend=backend, progress=False)))
    worker.start()
    try:
        assert backend.in_round_2.wait(60), "the run never reached round 2"
        run_dir = next(p for p in tmp_path.iterdir() if p.name != "prometheus-targets")
        info = json.loads((run_dir / "metrics.json").read_text())
        assert info["host"] == "127.0.0.1" and info["port"] > 0
        body = urllib.request.urlopen(info["url"], timeout=5).read().decode()
    finally:
        backend.release.set()
        worker.join(60)
    # Round 1 is complete and round 2 has planned: its training is what the test holds up.
    assert 'bflray_stage_duration_seconds_count{stage="plan"} 2.0' in body
    for stage in ("train", "commit", "aggregate", "finalize", "evaluate"):
        assert f'bflray_stage_duration_seconds_count{{stage="{stage}"}} 1.0' in body, stage
    assert "bflray_gas_used_total" in body
    # The endpoint goes away with the run.
    with pytest.raises(OSError):
        urllib.request.urlopen(info["url"], timeout=2)


class _FailingBackend(InProcessBackend):
    def call(self, method: str, *args: Any, missing_ok: bool = False) -> list[Any]:
        if method == "train":
            raise BackendError("injected failure")
        return super().call(method, *args, missing_ok=missing_ok)


def test_anvil_is_gone_after_a_run_that_raised(tmp_path: Path, wait_gone: Any) -> None:
    with pytest.raises(BackendError, match="injected failure"):
        run(_config(), out_dir=tmp_path, backend=_FailingBackend(), progress=False)
    run_dir = next(p for p in tmp_path.iterdir() if p.name != "prometheus-targets")
    pid = json.loads((run_dir / "chain.json").read_text())["anvil_pid"]
    assert wait_gone(pid)
    assert "injected failure" in (run_dir / "run.log").read_text()


@pytest.mark.ray
@pytest.mark.parametrize("hospitals_per_actor", [0, 3, 1])
def test_ray_and_inprocess_backends_give_the_same_model(
    tmp_path: Path, ray_cluster: None, hospitals_per_actor: int
) -> None:
    base = ["experiment.seed=3", "federation.hospitals=7", "experiment.rounds=2"]
    local = run(_config(*base), out_dir=tmp_path / "local", progress=False)
    ray_config = _config(*base, "runtime.backend=ray", f"runtime.hospitals_per_actor={hospitals_per_actor}")
    remote = run(ray_config, out_dir=tmp_path / "ray", progress=False)
    np.testing.assert_allclose(_model(remote.run_dir), _model(local.run_dir), atol=1e-6)
    assert "on the ray backend" in (remote.run_dir / "run.log").read_text()
