"""anvil's lifecycle with a real anvil: it starts, answers, is reproducible, and always stops."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bflray.chain import Chain, anvil_version, connect, start_anvil
from bflray.chain._tools import find_tool
from bflray.config.schema import ChainConfig
from bflray.errors import ChainError, ChainUnavailableError

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

DRIVER = textwrap.dedent(
    """
    import sys, time
    from bflray.chain import Chain
    from bflray.config.schema import ChainConfig
    chain = Chain.open(ChainConfig(accounts=2, timeout_s=5.0))
    try:  # entered before the pid is printed: a SIGTERM right after it still finds the cleanup
        print(chain.node.pid, flush=True)
        time.sleep(60)
    finally:
        print("cleaned up", flush=True)
    """
)


def _driver() -> tuple[subprocess.Popen[str], int]:
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert driver.stdout is not None
    line = driver.stdout.readline()
    if not line.strip():
        driver.kill()
        pytest.fail(f"driver printed no pid: {driver.communicate()[1]}")
    return driver, int(line)


def test_anvil_starts_answers_and_stops(anvil_binary: Path, chain_config: ChainConfig, tmp_path: Path) -> None:
    log = tmp_path / "anvil.log"

    with start_anvil(chain_config, log_path=log) as node:
        web3 = connect(node.url, 2.0)
        assert web3.eth.chain_id == 31337
        assert web3.eth.get_block(0)["timestamp"] == chain_config.start_timestamp
        assert node.url.startswith("http://127.0.0.1:")

    assert not node.running
    assert "Listening on" in log.read_text()


def test_anvil_version_is_the_pinned_foundry(anvil_binary: Path) -> None:
    assert anvil_version().startswith("1.7.1")


def test_missing_anvil_error_names_every_place_searched(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BFLRAY_ANVIL", str(tmp_path / "no-anvil"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("bflray.chain._tools.repo_root", lambda: tmp_path)

    with pytest.raises(ChainError) as caught:
        find_tool("anvil")

    message = str(caught.value)
    assert "BFLRAY_ANVIL" in message and "node_modules" in message and "PATH" in message


def test_anvil_is_gone_after_a_with_block_that_raised(anvil_binary: Path, chain_config: ChainConfig) -> None:
    pids: list[int] = []

    with pytest.raises(RuntimeError, match="boom"), Chain.open(chain_config) as chain:
        assert chain.node is not None
        pids.append(chain.node.pid)
        raise RuntimeError("boom")

    assert chain.node is not None and not chain.node.running


def test_anvil_is_gone_after_the_driver_is_sigkilled(anvil_binary: Path, wait_gone: Callable[..., bool]) -> None:
    driver, anvil_pid = _driver()

    driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=5)

    assert wait_gone(anvil_pid, 5.0), f"anvil {anvil_pid} outlived its SIGKILLed driver"


def test_sigterm_to_the_driver_runs_cleanup_and_stops_anvil(anvil_binary: Path, wait_gone: Callable[..., bool]) -> None:
    driver, anvil_pid = _driver()

    driver.send_signal(signal.SIGTERM)
    out, _ = driver.communicate(timeout=10)

    assert driver.returncode == 128 + signal.SIGTERM
    assert "cleaned up" in out
    assert wait_gone(anvil_pid, 5.0)


def test_anvil_started_from_a_finished_thread_keeps_running(anvil_binary: Path, chain_config: ChainConfig) -> None:
    nodes = []
    worker = threading.Thread(target=lambda: nodes.append(start_anvil(chain_config)))
    worker.start()
    worker.join()
    time.sleep(0.3)

    with nodes[0] as node:
        assert node.running, "PR_SET_PDEATHSIG fired when the spawning thread ended"
        assert connect(node.url, 2.0).eth.chain_id == 31337


def test_dead_url_fails_within_the_timeout(free_port: int) -> None:
    config = ChainConfig(url=f"http://127.0.0.1:{free_port}", timeout_s=1.0)
    started = time.monotonic()

    with pytest.raises(ChainUnavailableError, match=rf"127\.0\.0\.1:{free_port} within 1 s"):
        Chain.open(config)

    assert time.monotonic() - started < config.timeout_s + 1.0


def test_silent_listener_fails_within_the_timeout() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)  # accepts connections at the kernel level, never answers
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        started = time.monotonic()

        with pytest.raises(ChainUnavailableError, match="within 1 s"):
            connect(url, 1.0)

        assert time.monotonic() - started < 2.0


def test_websocket_url_is_refused_clearly() -> None:
    with pytest.raises(ChainError, match="http:// or https://"):
        connect("ws://127.0.0.1:1", 1.0)


def _history(config: ChainConfig, pause_s: float) -> list[tuple[str, int, str]]:
    with Chain.open(config) as chain:
        for round_number in range(1, 4):
            time.sleep(pause_s)
            chain.ledger.record_round(round_number, bytes([round_number]) * 32, bytes([9]) * 32)
        blocks = [chain.web3.eth.get_block(n) for n in range(chain.web3.eth.block_number + 1)]
    return [(b["hash"].to_0x_hex(), b["timestamp"], b["stateRoot"].to_0x_hex()) for b in blocks]


def test_two_fresh_chains_fed_the_same_transactions_have_the_same_blocks(
    anvil_binary: Path, chain_config: ChainConfig
) -> None:
    fast = _history(chain_config, 0.0)
    slow = _history(chain_config, 1.05)  # wall-clock seconds pass between blocks

    assert fast == slow
    assert [t for _, t, _ in fast] == [chain_config.start_timestamp + n for n in range(len(fast))]


def test_anvil_that_exits_at_once_reports_its_output(anvil_binary: Path) -> None:
    config = ChainConfig(mnemonic="not a valid phrase", timeout_s=3.0)

    with pytest.raises(ChainUnavailableError, match=r"exited with 1 .*the word `not` is invalid"):
        start_anvil(config)
