"""Shared fixtures. Under CI (``BFLRAY_CI=1``) a skipped test is a failure: every tool a test
needs is installed by ``.ci/run``, so a skip there means a missing install step."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from bflray.config import Config, load_config

# Tests share 2 cores with anvil and Ray's workers: torch's default of one OpenMP thread per
# core then spin-waits against them and small models run 10x slower. One thread is steady.
torch.set_num_threads(1)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    hardware = item.get_closest_marker("gpu") is not None  # CI machines have no GPU
    if os.environ.get("BFLRAY_CI") and report.skipped and not hasattr(report, "wasxfail") and not hardware:
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, where every tool must be installed: {report.longrepr}"


@pytest.fixture
def small_config() -> Config:
    """A tiny in-process experiment: 4 hospitals, 2 rounds, no metrics endpoint."""
    return load_config(
        None,
        [
            "experiment.rounds=2",
            "federation.hospitals=4",
            "runtime.backend=inprocess",
            "metrics.enabled=false",
        ],
    )


def _process_gone(pid: int) -> bool:
    """True once ``pid`` no longer exists or is a zombie (exited, not yet reaped by init)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _wait_gone(pid: int, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _process_gone(pid):
            return True
        time.sleep(0.05)
    return _process_gone(pid)


@pytest.fixture
def wait_gone() -> Callable[..., bool]:
    """``wait_gone(pid, timeout_s=5.0)``: whether the process is gone within the timeout."""
    return _wait_gone
