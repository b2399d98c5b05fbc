"""A real two-node Ray cluster on this machine (two ``ray start``, loopback, own temp dirs,
resources and ports): a run submitted with the Ray job CLI puts a hospital shard on each node,
and its run directory is complete."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from bflray.chain._tools import find_tool, repo_root

pytestmark = [pytest.mark.integration, pytest.mark.ray]

RAY = Path(sys.executable).with_name("ray")


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _env() -> dict[str, str]:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    return env


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    # --block keeps `ray start` in the foreground: ending its process group ends that node, and
    # nothing else (`ray stop` would stop every Ray on the machine).
    with log.open("wb") as out:
        process = subprocess.Popen([str(RAY), "start", "--block", *args], stdout=out, stderr=subprocess.STDOUT,
                                   env=_env(), start_new_session=True)
    _LOGS[process.pid] = log
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


@pytest.fixture()
def two_nodes() -> Iterator[tuple[str, str]]:
    """A head (with the job server) and a second node; the GCS address and the job server URL."""
    # Ray's socket paths live under the temp dir and must fit in 107 bytes: a short one, not tmp_path.
    short = Path(tempfile.mkdtemp(prefix="bflray-mn-"))
    try:
        yield from _cluster(short)
    finally:
        shutil.rmtree(short, ignore_errors=True)


def _cluster(tmp_path: Path) -> Iterator[tuple[str, str]]:
    gcs, dash, *ports = _free_ports(10)
    head = _start([
        "--head", f"--port={gcs}", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--num-gpus=1",
        '--resources={"bflray_head": 1}',
        f"--temp-dir={tmp_path / 'ray-head'}", "--include-dashboard=true", "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dash}", f"--dashboard-agent-listen-port={ports[0]}",
        f"--dashboard-agent-grpc-port={ports[1]}", f"--runtime-env-agent-port={ports[2]}",
        f"--metrics-export-port={ports[3]}", "--disable-usage-stats",
    ], tmp_path / "head.log")
    nodes = [head]
    try:
        address, url = f"127.0.0.1:{gcs}", f"http://127.0.0.1:{dash}"
        _wait_for_nodes(address, 1, head)
        nodes.append(_start([
            f"--address={address}", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--num-gpus=1",
            '--resources={"bflray_second": 1}', f"--temp-dir={tmp_path / 'ray-second'}",
            f"--dashboard-agent-listen-port={ports[4]}", f"--dashboard-agent-grpc-port={ports[5]}",
            f"--runtime-env-agent-port={ports[6]}", f"--metrics-export-port={ports[7]}", "--disable-usage-stats",
        ], tmp_path / "second.log"))
        _wait_for_nodes(address, 2, nodes[1])
        yield address, url
    finally:
        for process in reversed(nodes):
            _stop(process)


_LOGS: dict[int, Path] = {}


def _tail(process: subprocess.Popen[bytes]) -> str:
    path = _LOGS.get(process.pid)
    return path.read_text(errors="replace")[-2000:] if path and path.exists() else "(no log)"


def _wait_for_nodes(address: str, count: int, process: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"`ray start` exited with {process.returncode}: {_tail(process)}")
        status = subprocess.run([str(RAY), "status", f"--address={address}"], capture_output=True, text=True,
                                env=_env(), timeout=60, check=False)
        if status.stdout.count(" node_") >= count:
            return
        time.sleep(1)
    raise RuntimeError(f"the cluster at {address} did not reach {count} nodes in {timeout_s} s")


@pytest.mark.timeout(600)
def test_a_job_submitted_with_the_ray_cli_runs_a_shard_on_each_node(
    two_nodes: tuple[str, str], tmp_path: Path
) -> None:
    # Prepare: two nodes of one CPU and one (declared) GPU each; two shards of one CPU each can
    # only go one per node
    _, url = two_nodes
    runs = tmp_path / "runs"
    runtime_env = {"env_vars": {"BFLRAY_ANVIL": str(find_tool("anvil")), "RAY_USAGE_STATS_ENABLED": "0"}}
    # Execute: the path users take, `ray job submit --working-dir . -- bflray run ...`, joining with
    # ray.address = "auto" and mirroring the run directory to a filesystem URI
    mirror = tmp_path / "bucket"
    job = _submit(url, runtime_env, [
        "run", "configs/fedavg.toml", "--set", "federation.hospitals=8", "--set", "runtime.hospitals_per_actor=4",
        "--set", "experiment.rounds=2", "--set", "runtime.num_cpus_per_actor=1", "--set", "metrics.enabled=false",
        "--set", "ray.address=auto", "--set", f"experiment.mirror_uri=file://{mirror}", "--out", str(runs),
        # secure aggregation: two SMPC aggregation nodes, spread like the shards; half a GPU per shard
        "--set", "aggregation.secure=additive", "--set", "aggregation.nodes=2",
        "--set", "runtime.num_gpus_per_actor=0.5",
    ])
    assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]
    assert "succeeded" in job.stdout + job.stderr
    # Assert: the shards ran on two different nodes, and the run directory is complete
    [run_dir] = list(runs.iterdir())
    placement = json.loads((run_dir / "placement.json").read_text())
    shards = placement["shards"]
    assert [(p["first_hospital"], p["stop_hospital"]) for p in shards] == [(0, 4), (4, 8)]
    assert len({p["node_id"] for p in shards}) == 2 and placement["nodes"] == 2
    assert all(p["gpu_ids"] == ["0"] for p in shards)  # each node's one (declared) GPU, half of it per shard
    nodes = [r for r in placement["roles"] if r["kind"] == "aggregation_node"]
    assert len(nodes) == 2 and len({r["node_id"] for r in nodes}) == 2  # on distinct nodes
    for name in ("config.toml", "summary.json", "model.npz", "run.log", "chain.json", "versions.json"):
        assert (run_dir / name).is_file(), name
    rounds = pq.read_table(run_dir / "rounds.parquet").to_pylist()
    assert [r["round"] for r in rounds] == [1, 2] and all(r["hospitals"] == 8 for r in rounds)
    mirrored = mirror / run_dir.name
    assert (mirrored / "summary.json").read_bytes() == (run_dir / "summary.json").read_bytes()
    assert pq.read_table(mirrored / "rounds.parquet").num_rows == 2
    # A sweep is a job too: its cells are Ray tasks on the same cluster
    job = _submit(url, runtime_env, [
        "sweep", "configs/fedavg.toml", "--grid", "federation.hospitals=4,8", "--set", "experiment.rounds=1",
        "--set", "runtime.backend=inprocess", "--set", "metrics.enabled=false", "--parallel", "2",
        "--out", str(tmp_path / "sweeps"),
    ])
    assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]
    [sweep_dir] = list((tmp_path / "sweeps").iterdir())
    table = pq.read_table(sweep_dir / "sweep.parquet").to_pylist()
    assert [r["federation.hospitals"] for r in table] == [4, 8] and all(r["error"] is None for r in table)


def _submit(url: str, runtime_env: dict[str, object], command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RAY), "job", "submit", "--address", url, "--working-dir", str(repo_root()),
         "--runtime-env-json", json.dumps(runtime_env), "--", sys.executable, "-m", "bflray.cli", *command],
        capture_output=True, text=True, env=_env(), timeout=400, check=False,
    )
