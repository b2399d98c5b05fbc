"""Resuming a run (``bflray run --resume``) on a real anvil, in process: after anvil is killed
mid-run, after the driver is SIGKILLed mid-round, and the refusals (a finished run, no
checkpoint, a run another process writes, an external node that moved on)."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from bflray.api import RunResult, resume, run
from bflray.chain import Chain, start_anvil
from bflray.checkpoint import read_checkpoint
from bflray.cli import main
from bflray.config import Config, load_config
from bflray.errors import BackendError, ChainUnavailableError, StoreError
from bflray.protocol.backend import InProcessBackend
from bflray.resume import ResumeRefused
from bflray.rundir import create_run_dir, hold_run_lock

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
COMMON = ["runtime.backend=inprocess", "metrics.enabled=false", "data.source=offline", "federation.hospitals=12",
          "training.local_epochs=2"]  # fmt: skip
PIPELINES = {
    "flock": ["experiment.rounds=5", "voting.proposers=2", "voting.committee_size=9", "voting.validators=3",
              "voting.epsilon=0.5", "voting.initial_tokens=32"],
    "fedavg": ["experiment.rounds=4"],
    "dp_bfl": ["experiment.rounds=4", "federation.cohort_fraction=0.5", "privacy.noise_multiplier=1.2",
               "privacy.epsilon=50", "rewards.per_round=10", "rewards.pool_tokens=100", "voting.validators=3"],
}  # fmt: skip


def _overrides(pipeline: str) -> list[str]:
    return [*COMMON, *PIPELINES[pipeline]]


def _config(pipeline: str, *extra: str) -> Config:
    return load_config(ROOT / "configs" / f"{pipeline}.toml", [*_overrides(pipeline), *extra])


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], RunResult]:
    """The uninterrupted run of each pipeline, made once."""
    made: dict[str, RunResult] = {}

    def get(pipeline: str) -> RunResult:
        if pipeline not in made:
            made[pipeline] = run(_config(pipeline), out_dir=tmp_path_factory.mktemp(pipeline), progress=False)
        return made[pipeline]

    return get


class _KillAnvil(InProcessBackend):
    """Kills the run's anvil when round ``round_`` starts training: rounds before it are final."""

    def __init__(self, out_dir: Path, round_: int) -> None:
        super().__init__()
        self.out_dir, self.round = out_dir, round_
        self.killed: int | None = None

    def call(self, method: str, *args: Any, missing_ok: bool = False) -> list[Any]:
        if method == "train" and args[0].round == self.round and self.killed is None:
            self.killed = json.loads((_only_run(self.out_dir) / "chain.json").read_text())["anvil_pid"]
            os.kill(self.killed, signal.SIGKILL)
        return super().call(method, *args, missing_ok=missing_ok)


class _FailInRound(InProcessBackend):
    def __init__(self, round_: int) -> None:
        super().__init__()
        self.round = round_

    def call(self, method: str, *args: Any, missing_ok: bool = False) -> list[Any]:
        if method == "train" and args[0].round == self.round:
            raise BackendError(f"injected failure in round {self.round}")
        return super().call(method, *args, missing_ok=missing_ok)


def _only_run(out_dir: Path) -> Path:
    (run_dir,) = [p for p in out_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return run_dir


def _same(value: Any) -> Any:
    return "nan" if isinstance(value, float) and math.isnan(value) else value


def _records(path: Path, drop: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """A table's rows without wall-time columns (``seconds``, ``seconds_*``), NaN made comparable."""
    rows = pq.read_table(path).to_pylist()
    keep = [{k: _same(v) for k, v in r.items() if not k.startswith("seconds") and k not in drop} for r in rows]
    return sorted(keep, key=lambda r: (r.get("round", 0), r.get("hospital", 0), r.get("contract", ""), r.get("function", "")))


def _assert_same_run(resumed: Path, reference: Path) -> None:
    """Same records, per round and per hospital, same chain costs and the same final model."""
    for table in ("rounds.parquet", "chain.parquet", "hospitals.parquet", "votes.parquet"):
        if (reference / table).exists():
            assert _records(resumed / table) == _records(reference / table), table
    with np.load(resumed / "model.npz") as a, np.load(reference / "model.npz") as b:
        np.testing.assert_array_equal(a["params"], b["params"])
    summary, expected = (json.loads((d / "summary.json").read_text()) for d in (resumed, reference))
    assert summary["final_model_hash"] == expected["final_model_hash"]
    assert summary["rounds"] == expected["rounds"]


def _final_chain(run_dir: Path, config: Config) -> tuple[str, int, list[str]]:
    """The run's final chain, loaded from its last checkpoint: latest block hash, ledger round count, model hashes."""
    checkpoint = read_checkpoint(run_dir)
    assert checkpoint is not None
    with Chain.open(config.chain, state=checkpoint.chain_state,
                    ledger_address=checkpoint.addresses["FederationLedger"]) as chain:  # fmt: skip
        count = chain.ledger.round_count()
        hashes = ["0x" + chain.ledger.model_hash(r).hex() for r in range(1, count + 1)]
        return chain.web3.eth.get_block("latest")["hash"].hex(), count, hashes


def _tree(path: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(path)): (p.stat().st_size, p.stat().st_mtime_ns) for p in path.rglob("*") if p.is_file()}


@pytest.mark.parametrize("pipeline", ["flock", "fedavg", "dp_bfl"])
def test_a_run_whose_anvil_dies_stops_clearly_and_resumes_to_the_uninterrupted_result(
    pipeline: str, tmp_path: Path, reference: Callable[[str], RunResult], wait_gone: Callable[..., bool]
) -> None:
    config = _config(pipeline)
    killer = _KillAnvil(tmp_path, round_=3)
    with pytest.raises(ChainUnavailableError) as stopped:
        run(config, out_dir=tmp_path, backend=killer, progress=False)
    run_dir = _only_run(tmp_path)
    message = str(stopped.value)
    assert "\n" not in message
    assert f"(pid {killer.killed}) was killed by SIGKILL (status -9) during round 3" in message
    assert f"the run directory keeps round 2: `bflray run --resume {run_dir}` continues it" in message
    checkpoint = read_checkpoint(run_dir)
    assert checkpoint is not None and checkpoint.round == 2
    assert [r["round"] for r in pq.read_table(run_dir / "rounds.parquet").to_pylist()] == [1, 2]
    assert not (run_dir / "summary.json").exists()
    with hold_run_lock(run_dir), pytest.raises(StoreError, match="in use by another bflray process"):
        resume(run_dir, progress=False)

    result = resume(run_dir, backend=InProcessBackend(), progress=False)

    expected = reference(pipeline)
    _assert_same_run(result.run_dir, expected.run_dir)
    assert json.loads((run_dir / "summary.json").read_text())["resumed_from"] == [2]
    assert wait_gone(json.loads((run_dir / "chain.json").read_text())["anvil_pid"])
    resumed_chain = _final_chain(run_dir, config)
    _, rounds_on_chain, hashes = resumed_chain
    assert rounds_on_chain == len(result.rounds) == config.experiment.rounds, "each round recorded once"
    assert hashes == [r["model_hash"] for r in result.rounds]
    assert resumed_chain == _final_chain(expected.run_dir, config), "the same blocks, hashes included"


def test_a_driver_killed_mid_round_resumes_from_the_command_line(
    tmp_path: Path, reference: Callable[[str], RunResult], wait_gone: Callable[..., bool]
) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # as in-process tests: one torch thread
    sets = [arg for item in _overrides("flock") for arg in ("--set", item)]
    command = [sys.executable, "-m", "bflray.cli", "run"]
    driver = subprocess.Popen([*command, "configs/flock.toml", "--quiet", "--out", str(tmp_path), *sets], cwd=ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    run_dir: Path | None = None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and driver.poll() is None:
            found = [p for p in tmp_path.iterdir() if p.is_dir()]
            run_dir = found[0] if found else None
            checkpoint = read_checkpoint(run_dir) if run_dir is not None else None
            if run_dir is not None:
                _assert_tables_readable(run_dir)
            if checkpoint is not None and checkpoint.round >= 2:
                driver.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
    finally:
        driver.kill()
        _, err = driver.communicate(timeout=30)
    assert driver.returncode == -signal.SIGKILL, err.decode()[-2000:]
    assert run_dir is not None and not (run_dir / "summary.json").exists(), "the run finished before it was killed"
    assert wait_gone(json.loads((run_dir / "chain.json").read_text())["anvil_pid"]), "anvil dies with its driver"
    _assert_tables_readable(run_dir)
    kept = read_checkpoint(run_dir)
    assert kept is not None and kept.round >= 2

    resumed = subprocess.Popen([*command, "--resume", str(run_dir), "--quiet"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    while resumed.poll() is None:
        _assert_tables_readable(run_dir)
        time.sleep(0.01)
    out, err = resumed.communicate(timeout=120)

    assert resumed.returncode == 0, err[-3000:]
    assert out.strip().splitlines()[-1] == f"run directory: {run_dir}"
    _assert_same_run(run_dir, reference("flock").run_dir)
    assert json.loads((run_dir / "summary.json").read_text())["resumed_from"] == [kept.round]
    assert not [p for p in run_dir.rglob("*.tmp-*")], "no temporary file left"


def _assert_tables_readable(run_dir: Path) -> None:
    """Every table file in the run directory is a whole Parquet file.

    Each is opened first and read through that handle: ``pq.read_table(path)`` takes a file's
    size before it opens it, and a rename in between would pair the old size with the new file.
    """
    # Which names are folders of per-round parts is known, not probed: a folder the run creates
    # between a probe and the open would be opened as a file.
    for table, folder in (("rounds.parquet", False), ("chain.parquet", False), ("hospitals.parquet", True),
                          ("votes.parquet", True)):
        path = run_dir / table
        for file in sorted(path.glob("*.parquet")) if folder else [path]:
            try:
                with file.open("rb") as handle:
                    pq.read_table(handle)
            except FileNotFoundError:  # not written yet, or dropped by the resume
                continue


def test_resuming_a_finished_run_is_refused_and_leaves_it_unchanged(
    reference: Callable[[str], RunResult], capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = reference("fedavg").run_dir
    before = _tree(run_dir)

    code = main(["run", "--resume", str(run_dir)])

    err = capsys.readouterr().err
    assert code == 6
    assert err.count("\n") == 1 and "finished (summary.json is there); a finished run is never resumed" in err
    with pytest.raises(ResumeRefused, match="finished"):
        resume(run_dir, progress=False)
    assert _tree(run_dir) == before


def test_resuming_a_directory_without_a_checkpoint_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = create_run_dir(_config("fedavg"), tmp_path)  # as a run killed before its chain was set up leaves it
    before = _tree(run_dir)

    code = main(["run", "--resume", str(run_dir)])
    elsewhere = main(["run", "--resume", str(tmp_path / "nowhere")])
    with_config = main(["run", "configs/fedavg.toml", "--resume", str(run_dir)])

    err = capsys.readouterr().err.splitlines()
    assert (code, elsewhere, with_config) == (6, 6, 2)
    assert "has no checkpoint (checkpoint.npz)" in err[0]
    assert "is not a run directory: no config.toml there" in err[1]
    assert "--resume continues the run with its own config.toml: drop CONFIG" in err[2]
    assert _tree(run_dir) == before


def test_resuming_on_an_external_node_continues_only_where_its_ledger_ends(tmp_path: Path) -> None:
    chain_config = _config("fedavg").chain
    with start_anvil(chain_config) as node:
        config = _config("fedavg", f'chain.url="{node.url}"')
        with pytest.raises(BackendError, match="injected failure in round 3"):
            run(config, out_dir=tmp_path / "runs", backend=_FailInRound(3), progress=False)
        run_dir = _only_run(tmp_path / "runs")
        copy = shutil.copytree(run_dir, tmp_path / "copy")

        result = resume(run_dir, backend=InProcessBackend(), progress=False)

        assert [r["round"] for r in result.rounds] == [1, 2, 3, 4]
        checkpoint = read_checkpoint(run_dir)
        assert checkpoint is not None and checkpoint.chain_state is None, "nothing to save of a node bflray did not start"
        with Chain.open(config.chain, ledger_address=checkpoint.addresses["FederationLedger"]) as chain:
            assert chain.ledger.round_count() == 4
        with pytest.raises(ResumeRefused, match=r"\(an external node\) has recorded up to round 4, the checkpoint is at "
                                                r"round 2: an external node cannot be rolled back"):  # fmt: skip
            resume(copy, backend=InProcessBackend(), progress=False)
        assert node.running, "bflray leaves an external node alone"
