"""Shared pieces of the benchmarks: the workload's config, the matmul peak, memory of a process tree."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import torch

from bflray.config import Config, load_config


#: Hospitals trained together: the fastest on one core of this machine kind (measured
#: 0.49 ms per hospital-update at 32, 0.55 at 64, 0.65 at 128; see README).
CHUNK_SIZE = 32


def workload_config(*, hospitals: int, backend: str, extra: list[str] | None = None) -> Config:
    """Issue 5's workload: the head (256 → 128 → 9, dropout 0.1), 1 epoch of batch 32, SGD, FedAvg over all,
    float16 features, chunks of :data:`CHUNK_SIZE` hospitals."""
    return load_config(None, [
        f"federation.hospitals={hospitals}", f"runtime.backend={backend}", "model.name=head", "model.hidden=128",
        "model.dropout=0.1", "training.local_epochs=1", "training.batch_size=32", "training.learning_rate=0.05",
        "training.optimizer=sgd", "runtime.feature_dtype=float16", "metrics.enabled=false",
        f"training.local_chunk_size={CHUNK_SIZE}", *(extra or []),
    ])


def matmul_peak_gflops(size: int = 2048, repeats: int = 10) -> float:
    """The best float32 GFLOP/s of a square matmul on all of this process's torch threads."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def tree_pss_bytes(root: int | None = None) -> int:
    """PSS of ``root`` (default: this process) and all its descendants, from smaps_rollup.

    A local Ray cluster started by ``ray.init`` is a descendant of the driver (raylet, GCS,
    workers), so this covers every process of the run.
    """
    todo, total, seen = [root or os.getpid()], 0, set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
        todo += _children(pid)
    return total


class PeakSampler:
    """Samples the process tree's PSS every ``interval_s`` in a thread; ``peak`` is the maximum."""

    def __init__(self, interval_s: float = 0.2) -> None:
        import threading

        self.peak = 0
        self._stop = threading.Event()
        self._interval = interval_s
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_pss_bytes())
            self._stop.wait(self._interval)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_pss_bytes())


def emit(record: dict[str, Any]) -> None:
    """One JSON line per measurement, flushed at once."""
    print(json.dumps(record), flush=True)


def _cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat (idle and iowait are not busy)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(values) - values[3] - values[4], sum(values)


def wait_until_quiet(*, busy_below: float = 0.1, window_s: float = 0.5, timeout_s: float = 60.0) -> dict[str, Any]:
    """Wait until the machine's CPUs are busy less than ``busy_below`` of the time over two
    windows in a row (what another engine's processes leave behind is still exiting right
    after it returns: Flower's Ray workers kept the machine 43 % busy for a second, measured),
    or ``timeout_s`` has passed. Returns the seconds waited and the last window's busy fraction."""
    start = time.perf_counter()
    quiet, busy = 0, float("nan")
    while quiet < 2 and time.perf_counter() - start < timeout_s:
        before = _cpu_ticks()
        time.sleep(window_s)
        after = _cpu_ticks()
        busy = (after[0] - before[0]) / max(1, after[1] - before[1])
        quiet = quiet + 1 if busy < busy_below else 0
    return {"seconds_settling": round(time.perf_counter() - start, 1), "busy_fraction_before": round(busy, 3),
            "settled": quiet >= 2}
