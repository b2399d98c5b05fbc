"""The same workload through bflray and through Flower's Ray simulation engine, side by side.

For each N, in one run: bflray's rounds (the Ray backend, packed shards, as
``benchmarks/scale.py``), then Flower 1.41's simulation (``benchmarks/flower_workload.py``
in the Flower venv, one subprocess per client-resource setting), then bflray again, each
after a warm-up round and on a quiet machine (the other engine's processes are still exiting
when it returns); bflray's figure is the median of its rounds before and after (20 each: a
0.3-s round feels every passing disturbance that a 15-s Flower round averages out). Neither
engine's rounds run beside a memory sampler (``benchmarks/scale.py`` reports bflray's memory):
its reads of every process's smaps_rollup would take CPU from bflray's shards only. Workload
(issue 5): N hospitals × 128 samples of 256 features, 9 classes; head
BatchNorm(256) → Linear(256,128) → ReLU → Dropout(0.1) → Linear(128,9); 1 local epoch,
batch 32, SGD; FedAvg over all N.

Usage: ``python -m benchmarks.vs_flower --n 100,1000 [--flower-python .venv-flower/bin/python]
[--num-cpus 1,0.5] [--rounds 2] [--bflray-rounds 20]``. Prints one JSON line per (N, engine
setting) and then one comparison line per N: median seconds per round of bflray and of
Flower's best setting, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import emit, matmul_peak_gflops, wait_until_quiet
from benchmarks.scale import measure

ROOT = Path(__file__).resolve().parents[1]


def run_flower(python: str, n: int, *, num_cpus: float, rounds: int, timeout_s: float) -> dict[str, Any]:
    """One Flower simulation in its own venv; its JSON line, or the reason it failed."""
    env = {**os.environ, "FLWR_TELEMETRY_ENABLED": "0", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    command = [python, str(ROOT / "benchmarks" / "flower_workload.py"), "--n", str(n), "--rounds", str(rounds + 1),
               "--num-cpus", str(num_cpus)]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return {"engine": "flower", "n": n, "num_cpus_per_client": num_cpus, "error": f"timed out after {timeout_s} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"engine": "flower", "n": n, "num_cpus_per_client": num_cpus, "error": f"exit {done.returncode}: {tail}"}
    record: dict[str, Any] = json.loads(lines[-1])
    record["seconds_round_median"] = round(float(np.median(record["seconds_per_round"])), 4)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="100,1000", help="comma-separated hospital counts")
    parser.add_argument("--flower-python", default=str(ROOT / ".venv-flower" / "bin" / "python"))
    parser.add_argument("--num-cpus", default="1,0.5", help="Flower client_resources.num_cpus settings to try")
    parser.add_argument("--rounds", type=int, default=2, help="measured Flower rounds, after one warm-up round")
    parser.add_argument("--bflray-rounds", type=int, default=20,
                        help="measured bflray rounds before Flower and again after it, each after a warm-up round")
    parser.add_argument("--flower-timeout", type=float, default=1800.0, help="seconds per Flower simulation")
    args = parser.parse_args()
    if not Path(args.flower_python).exists():
        sys.exit(f"--flower-python {args.flower_python} does not exist: build it with `make flower-venv`")
    peak = matmul_peak_gflops()
    for n in (int(v) for v in args.n.split(",")):
        # bflray before and after Flower, so drifting load on a shared machine hits both engines.
        # Each engine starts on a quiet machine: the other's exiting processes would slow it.
        quiet = wait_until_quiet()
        records, ours = measure(n, backend_name="ray", rounds=args.bflray_rounds, peak=peak, memory_interval_s=None)
        emit({**ours, **quiet, "engine": "bflray", "when": "before flower"})
        flower = []
        for cpus in (float(v) for v in args.num_cpus.split(",")):
            quiet = wait_until_quiet()
            record = run_flower(args.flower_python, n, num_cpus=cpus, rounds=args.rounds, timeout_s=args.flower_timeout)
            emit({**record, **quiet})
            if "error" not in record:
                flower.append(record)
        quiet = wait_until_quiet()
        later, ours_after = measure(n, backend_name="ray", rounds=args.bflray_rounds, peak=peak, memory_interval_s=None)
        emit({**ours_after, **quiet, "engine": "bflray", "when": "after flower"})
        if not flower:
            emit({"benchmark": "vs_flower", "n": n, "error": "no Flower setting finished"})
            continue
        best = min(flower, key=lambda r: r["seconds_round_median"])
        seconds_ours = float(np.median([float(r["seconds_round"]) for r in records + later]))  # type: ignore[arg-type]
        emit({
            "benchmark": "vs_flower", "n": n, "bflray_seconds_per_round": round(seconds_ours, 4),
            "flower_seconds_per_round": best["seconds_round_median"],
            "flower_best_num_cpus_per_client": best["num_cpus_per_client"],
            "flower_by_num_cpus": {str(r["num_cpus_per_client"]): r["seconds_round_median"] for r in flower},
            "speedup": round(best["seconds_round_median"] / seconds_ours, 1),
            "flwr": best.get("flwr"), "load_average": [round(v, 2) for v in os.getloadavg()],
        })

if __name__ == "__main__":
    main()
