"""A real Prometheus server on loopback finds a short run through its service-discovery target
(the shipped ``cluster/prometheus.yml``, pointed at a temporary folder) and scrapes it; the
round-latency and storage-growth series come back through Prometheus's HTTP API."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bflray.api import run
from bflray.chain._tools import find_tool
from bflray.config import load_config
from bflray.errors import ChainError

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
DISCOVERY_DELAY_S = 5
INSTALL = "install with `apt-get install -y prometheus`, as .ci/run does"


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed ({INSTALL})")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


class Prometheus:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = _get(f"{self.base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        assert answer["status"] == "success", answer
        return list(answer["data"]["result"])

    def query_range(self, expr: str, start: float, end: float) -> list[dict[str, Any]]:
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": "1"}
        answer = _get(f"{self.base}/api/v1/query_range?" + urllib.parse.urlencode(params))
        assert answer["status"] == "success", answer
        return list(answer["data"]["result"])


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[Prometheus, Path]]:
    """Prometheus on a free loopback port with its own storage, scraping every second the
    targets announced in ``tmp_path/targets`` (the shipped config, its paths redirected)."""
    binary = _binary("prometheus")
    targets = tmp_path / "targets"
    targets.mkdir()
    config = yaml.safe_load((ROOT / "cluster" / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s", scrape_timeout="1s")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    jobs["bflray"]["file_sd_configs"][0]["files"] = [str(targets / "*.json")]
    (tmp_path / "ray").mkdir()
    jobs["ray"]["file_sd_configs"][0]["files"] = [str(tmp_path / "ray" / "*.json")]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = _free_port()
    log = (tmp_path / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [binary, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "prometheus did not become ready in 30 s"
            time.sleep(0.1)
        yield Prometheus(port), targets
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_shipped_prometheus_config_passes_promtool() -> None:
    promtool = _binary("promtool")
    proc = subprocess.run([promtool, "check", "config", str(ROOT / "cluster" / "prometheus.yml")],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_prometheus_scrapes_round_latency_and_storage_growth_of_a_run(
    prometheus: tuple[Prometheus, Path], tmp_path: Path
) -> None:
    try:
        find_tool("anvil")
    except ChainError as exc:
        pytest.skip(f"{exc} (install with `npm ci`)")
    server, targets = prometheus
    config = load_config(None, [
        "experiment.rounds=3", "federation.hospitals=4", "runtime.backend='inprocess'", "training.local_epochs=1",
        # Prometheus applies discovered targets at most every 5 s, then scrapes within 1 s.
        f"metrics.sd_dir='{targets}'", f"metrics.linger_s={DISCOVERY_DELAY_S + 2}",
    ])
    started = time.time()

    result = run(config, out_dir=tmp_path / "runs", progress=False)

    name = result.run_dir.name
    selector = f'{{job="bflray", run="{name}"}}'
    rounds = _last(server, f"bflray_round_duration_seconds_count{selector}")
    assert rounds["metric"]["pipeline"] == "fedavg" and rounds["metric"]["hospitals"] == "4"
    assert float(rounds["value"][1]) == 3
    stages = server.query(f"last_over_time(bflray_stage_duration_seconds_count{selector}[5m])")
    assert {s["metric"]["stage"]: float(s["value"][1]) for s in stages} == {
        stage: 3.0 for stage in ("plan", "train", "screen", "commit", "aggregate", "finalize", "evaluate")
    }
    calldata = sum(r["calldata_bytes"] for r in result.rounds)
    offchain = sum(r["offchain_bytes"] for r in result.rounds)
    onchain = f'bflray_onchain_storage_bytes{{kind="calldata", run="{name}"}}'
    assert float(_last(server, onchain)["value"][1]) == calldata
    assert float(_last(server, f'bflray_onchain_storage_bytes{{kind="state", run="{name}"}}')["value"][1]) > 0
    growth = server.query_range(f"bflray_offchain_storage_bytes{selector}", started, time.time())
    values = [float(v) for _, v in growth[0]["values"]]
    assert values == sorted(values) and values[-1] == offchain
    assert not (targets / f"{name}.json").exists()  # withdrawn when the run ended


def _last(server: Prometheus, selector: str) -> dict[str, Any]:
    """The series' last scraped value (``last_over_time`` skips the stale marker Prometheus
    writes once the finished run's target is withdrawn)."""
    result = server.query(f"last_over_time({selector}[5m])")
    assert len(result) == 1, result
    return result[0]
