"""A DP run from a plain script prints no DEBUG lines on stderr (dp-accounting's logging must
not install a root handler that echoes what the run sends to run.log), nor the RDP
accountant's notes about each order it leaves out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bflray.chain._tools import find_tool
from bflray.errors import ChainError

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import sys
from bflray.api import run
from bflray.config import load_config
config = load_config(sys.argv[1], ["runtime.backend='inprocess'", "metrics.enabled=false", "experiment.rounds=2",
                                    f"experiment.out_dir='{sys.argv[2]}'"])
run(config, progress=False)
"""


def test_a_dp_run_keeps_its_debug_lines_in_run_log(tmp_path: Path) -> None:
    try:
        find_tool("anvil")
    except ChainError as exc:
        pytest.skip(f"{exc} (install with `npm ci`)")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROOT / "configs" / "dp_bfl.toml"), str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=True,
    )
    assert "DEBUG" not in done.stderr
    assert "failed to converge" not in done.stderr  # the RDP accountant's per-order notes are dropped
    (log,) = tmp_path.glob("*/run.log")
    assert "DEBUG" in log.read_text()
