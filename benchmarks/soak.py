"""Soak: a long run at 10,000 hospitals, watched for memory growth and store growth.

What it runs: ``bflray.run`` with a real anvil and the configured backend on generated data
(``data.dataset = "synthetic"``: each shard generates its hospitals' samples), an MLP, plain
FedAvg over every hospital, every update committed to the store with ``store.keep_rounds``
set (each hospital's update differs, so nothing is shared by content addressing).

What it measures, from a thread beside the run: the PSS of the whole process tree (driver,
anvil, Ray's processes and actors) every 0.2 s, split into rounds by watching the run's
``checkpoint.npz`` (written once a round is finalized, written out and its store pruned),
and the bytes of the run's store at that moment. It passes when the peak PSS of the last round is within
``--memory-tolerance`` (10 %) of round 2's, and the store at the end of the run is no larger
than it was once ``keep_rounds`` rounds had been held (within a few bytes: a manifest's
round number may gain a digit).

Usage: ``python -m benchmarks.soak [--hospitals 10000] [--rounds 20] [--keep-rounds 2]
[--backend ray|inprocess] [--out DIR]``. Prints one JSON line per round and a summary line.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.common import emit, tree_pss_bytes
from bflray.api import run
from bflray.checkpoint import read_checkpoint
from bflray.config import load_config
from bflray.rundir import bytes_under


class RoundWatcher:
    """Per round: the peak PSS of the process tree and the store's bytes when it ended."""

    def __init__(self, out_dir: Path, interval_s: float = 0.2) -> None:
        self.out_dir, self.interval_s = out_dir, interval_s
        self.peaks: dict[int, int] = {}
        self.store_bytes: dict[int, int] = {}
        self.ended_at: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        current, seen = 1, None
        while not self._stop.is_set():
            pss = tree_pss_bytes()
            self.peaks[current] = max(self.peaks.get(current, 0), pss)
            run_dirs = [p for p in self.out_dir.iterdir() if (p / "checkpoint.npz").exists()]
            stamp = (run_dirs[0] / "checkpoint.npz").stat().st_mtime_ns if run_dirs else None
            checkpoint = None
            if stamp is not None and stamp != seen:  # read only a new checkpoint
                seen, checkpoint = stamp, read_checkpoint(run_dirs[0])
            if checkpoint is not None and checkpoint.round >= current:
                self.store_bytes[current] = bytes_under(run_dirs[0] / "store")
                self.ended_at[current] = time.monotonic()
                current += 1
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RoundWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hospitals", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--keep-rounds", type=int, default=2)
    parser.add_argument("--backend", choices=["ray", "inprocess"], default="ray")
    parser.add_argument("--hidden", type=int, default=16, help="the MLP's hidden width (payload size)")
    parser.add_argument("--samples", type=int, default=16, help="samples each hospital generates")
    parser.add_argument("--memory-tolerance", type=float, default=0.10)
    parser.add_argument("--out", default="", help="parent of the data and run directories (default: a temp dir)")
    args = parser.parse_args()
    if args.rounds < 3:
        sys.exit(f"--rounds {args.rounds}: the memory check compares the last round with round 2; use at least 3")
    base = Path(args.out or tempfile.mkdtemp(prefix="bflray-soak-"))
    (base / "runs").mkdir(parents=True, exist_ok=True)
    config = load_config(None, [
        "experiment.name=soak", f"experiment.rounds={args.rounds}", f"federation.hospitals={args.hospitals}",
        "data.dataset=synthetic", f"data.samples_per_hospital={args.samples}", "data.synthetic_features=64",
        "model.name=mlp", f"model.hidden={args.hidden}", "training.batch_size=8", "runtime.feature_dtype=float16",
        f"runtime.backend={args.backend}", f"store.keep_rounds={args.keep_rounds}", "metrics.enabled=false",
    ])
    if args.backend == "ray":
        import actors  # noqa: F401  (registers the Ray backend)
    started = time.monotonic()
    with RoundWatcher(base / "runs") as watcher:
        result = run(config, out_dir=base / "runs", progress=True)
    rounds = sorted(watcher.store_bytes)
    previous = started
    for r in rounds:
        emit({"benchmark": "soak", "round": r, "peak_pss_bytes": watcher.peaks.get(r, 0),
              "store_bytes": watcher.store_bytes[r], "seconds": round(watcher.ended_at[r] - previous, 3)})
        previous = watcher.ended_at[r]
    last = rounds[-1]
    growth = watcher.peaks[last] / watcher.peaks[2] - 1.0
    held = watcher.store_bytes[min(args.keep_rounds + 1, last)]
    summary: dict[str, Any] = {
        "benchmark": "soak", "summary": True, "hospitals": args.hospitals, "rounds": len(rounds),
        "backend": args.backend, "keep_rounds": args.keep_rounds, "run_dir": str(result.run_dir),
        "peak_pss_round_2_bytes": watcher.peaks[2], "peak_pss_last_round_bytes": watcher.peaks[last],
        "memory_growth": round(growth, 4), "memory_ok": growth <= args.memory_tolerance,
        "store_bytes_when_full": held, "store_bytes_at_end": watcher.store_bytes[last],
        "store_ok": watcher.store_bytes[last] <= held + 64,
        "seconds_per_round_median": round(sorted(
            watcher.ended_at[r] - watcher.ended_at[r - 1] for r in rounds[1:])[len(rounds[1:]) // 2], 3),
        "final_accuracy": result.final_accuracy, "load_average": [round(v, 2) for v in os.getloadavg()],
    }
    emit(summary)


if __name__ == "__main__":
    main()
