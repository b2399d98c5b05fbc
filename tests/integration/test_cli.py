"""The command line end to end, as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from bflray.store import read_rows

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
BFLRAY = [sys.executable, "-m", "bflray.cli"]


@pytest.mark.ray
def test_bflray_run_on_the_demo_config_with_ray_prints_its_run_directory(tmp_path: Path) -> None:
    ray_tmp = tempfile.mkdtemp(prefix="bflray-ray-")  # Ray's socket paths must stay under 107 bytes
    proc = subprocess.run(
        [*BFLRAY, "run", "configs/demo.toml", "--quiet", "--out", str(tmp_path), "--set", "experiment.rounds=2",
         "--set", "mae.epochs=2", "--set", "ray.num_cpus=2"],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
        env={**os.environ, "RAY_TMPDIR": ray_tmp},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("run directory: ")
    run_dir = Path(last.removeprefix("run directory: "))
    assert [r["round"] for r in read_rows(run_dir / "rounds.parquet")] == [1, 2]
    assert "rounds:" not in proc.stderr  # --quiet: no progress bar
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["port"] > 0


def test_chain_up_prints_url_and_addresses_and_stops_on_ctrl_c(wait_gone: Any) -> None:
    proc = subprocess.Popen(
        [*BFLRAY, "chain", "up", "--set", "chain.accounts=2"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.strip())
            if line.startswith("chain is up"):
                break
        url = next(x for x in lines if x.startswith("rpc url: ")).removeprefix("rpc url: ")
        assert url.startswith("http://127.0.0.1:")
        assert any(x.startswith("FederationLedger: 0x") for x in lines)
        port = int(url.rsplit(":", 1)[1])
        pid = _listening_pid(port)
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=60)  # anvil stops in seconds; a loaded 2-core machine needs slack
        except subprocess.TimeoutExpired:
            status = Path(f"/proc/{proc.pid}/status").read_text().splitlines()
            masks = [x for x in status if x.startswith(("State", "SigBlk", "SigIgn", "SigCgt"))]
            proc.kill()
            _, err = proc.communicate()
            pytest.fail(f"chain up did not stop within 60 s of SIGINT: {masks}; stderr: {err[-3000:]}")
        assert code == 0
        assert pid is None or wait_gone(pid)
    finally:
        if proc.poll() is None:
            proc.kill()


def _listening_pid(port: int) -> int | None:
    """The pid of the anvil serving ``port``, found through /proc, or None if not visible."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmd and cmd[0].endswith(b"anvil"):
                return int(entry.name)
    return None


def test_version_and_help() -> None:
    out = subprocess.run([*BFLRAY, "--version"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("bflray 0.")
    for args in (["--help"], ["run", "--help"], ["chain", "up", "--help"], ["config", "--help"]):
        assert subprocess.run([*BFLRAY, *args], capture_output=True, text=True).returncode == 0
