"""A hospital shard's process dies mid-round (a fault injected on purpose through ``[faults]``):
the round finishes without its hospitals or retries on the restarted process, the shard comes
back with its hospitals for the next round, and the run directory says what happened."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from bflray.api import run
from bflray.config import Config, load_config
from bflray.errors import ConfigError
from bflray.protocol.backend import InProcessBackend

pytestmark = [pytest.mark.integration, pytest.mark.ray]


def _config(*extra: str) -> Config:
    return load_config(None, [
        "experiment.rounds=3", "federation.hospitals=6", "runtime.backend=ray", "runtime.hospitals_per_actor=3",
        "metrics.enabled=false", "runtime.start_timeout_s=300", *extra,
    ])


def _model(run_dir: Path) -> np.ndarray:
    with np.load(run_dir / "model.npz") as data:
        return data["params"]


@pytest.mark.timeout(600)
def test_a_crashed_shard_is_left_out_of_its_round_and_rejoins_the_next(ray_cluster: None, tmp_path: Path) -> None:
    # Prepare / Execute: shard 1 (hospitals 3…5) exits in the middle of round 2's training
    result = run(_config("runtime.shard_failure=drop", "faults.shard_crash_rounds=[2]", "faults.shard_crash_index=1"),
                 out_dir=tmp_path, progress=False)
    # Assert: three rounds, round 2 without the dead shard's hospitals, round 3 with all six
    rounds = pq.read_table(result.run_dir / "rounds.parquet").to_pylist()
    assert [r["hospitals"] for r in rounds] == [6, 3, 6]
    assert [r["hospitals_lost"] for r in rounds] == [0, 3, 0]
    assert [r["shard_faults"] for r in rounds] == [0, 1, 0]
    round_2 = pq.read_table(result.run_dir / "hospitals.parquet" / "round-000002.parquet").column("hospital").to_pylist()
    assert round_2 == [0, 1, 2]
    assert np.isfinite(result.final_accuracy)
    log = (result.run_dir / "run.log").read_text()
    assert "hospital shard 1 (hospitals 3…5) died during 'train' in round 2" in log
    assert "hospital shard 1 (hospitals 3…5) is back" in log
    faults = (result.run_dir / "faults.jsonl").read_text().splitlines()
    assert len(faults) == 1 and '"action": "dropped"' in faults[0] and '"round": 2' in faults[0]


@pytest.mark.timeout(600)
def test_a_retried_round_gives_the_same_model_as_a_run_without_the_crash(ray_cluster: None, tmp_path: Path) -> None:
    # Prepare / Execute: the same run with and without a crash of shard 0 in round 2, retried
    crashed = run(_config("runtime.shard_failure=retry", "faults.shard_crash_rounds=[2]"),
                  out_dir=tmp_path / "crashed", progress=False)
    clean = run(_config(), out_dir=tmp_path / "clean", progress=False)
    # Assert: every hospital trained in every round, and the final models agree bit for bit
    rounds = pq.read_table(crashed.run_dir / "rounds.parquet").to_pylist()
    assert [r["hospitals"] for r in rounds] == [6, 6, 6]
    assert [r["shard_faults"] for r in rounds] == [0, 1, 0]
    np.testing.assert_array_equal(_model(crashed.run_dir), _model(clean.run_dir))
    assert '"action": "retried"' in (crashed.run_dir / "faults.jsonl").read_text()


def test_a_crash_for_a_shard_that_does_not_exist_names_the_field(ray_cluster: None, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"faults\.shard_crash_index = 5: the run has 2 hospital shards"):
        run(_config("faults.shard_crash_rounds=[1]", "faults.shard_crash_index=5"), out_dir=tmp_path, progress=False)


def test_injected_crashes_need_shard_processes(tmp_path: Path) -> None:
    config = _config("runtime.backend=inprocess", "faults.shard_crash_rounds=[1]")
    with pytest.raises(ConfigError, match=r"faults\.shard_crash_rounds = \[1\]: .*runtime\.backend = 'inprocess'"):
        run(config, out_dir=tmp_path, backend=InProcessBackend(), progress=False)
