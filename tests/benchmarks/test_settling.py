"""``wait_until_quiet``: a benchmark engine starts only once the other's processes are gone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `pytest` run from elsewhere than the repository root
    sys.path.insert(0, str(ROOT))

from benchmarks.common import wait_until_quiet  # noqa: E402

SPIN = "import time\nend = time.perf_counter() + {s}\nwhile time.perf_counter() < end: pass\n"


def _spinners(seconds: float) -> list[subprocess.Popen[bytes]]:
    """One process per core, each keeping its core busy for ``seconds``."""
    return [subprocess.Popen([sys.executable, "-c", SPIN.format(s=seconds)]) for _ in range(os.cpu_count() or 2)]


def test_waits_while_other_processes_keep_the_cpus_busy() -> None:
    spinners = _spinners(1.5)
    try:
        start = time.perf_counter()
        quiet = wait_until_quiet(busy_below=0.4, window_s=0.25, timeout_s=20.0)
        assert quiet["settled"] is True and quiet["busy_fraction_before"] < 0.4
        assert time.perf_counter() - start >= 1.0  # not before the spinners were done
        assert all(s.poll() is not None for s in spinners)
    finally:
        for s in spinners:
            s.kill()
            s.wait()


def test_gives_up_after_its_timeout_and_says_so() -> None:
    spinners = _spinners(30.0)
    try:
        quiet = wait_until_quiet(busy_below=0.4, window_s=0.25, timeout_s=1.0)
        assert quiet["settled"] is False and quiet["busy_fraction_before"] >= 0.4
        assert 1.0 <= float(quiet["seconds_settling"]) < 3.0
    finally:
        for s in spinners:
            s.kill()
            s.wait()
