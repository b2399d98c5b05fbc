"""Seconds per round by stage at N hospitals, through the backend and the hospital blocks.

What it measures: one process tree (driver, and with ``--backend ray`` a local Ray cluster
and its shard actors) runs issue 5's workload: N hospitals with 128 generated samples of 256
float16 features and 9 classes each, the head BatchNorm(256) → Linear(256,128) → ReLU →
Dropout(0.1) → Linear(128,9), 1 local epoch of batch 32, SGD, FedAvg over all N. A round is
``plan`` (draw the cohort, build the plan), ``train`` (every shard trains its hospitals and
folds them into FedAvg's partial sums, ``HospitalBlock.train_reduce``), and ``aggregate``
(the driver adds the shards' sums). The chain, the store and evaluation are not part of it.

Usage: ``python -m benchmarks.scale --n 10,100,1000,10000 [--backend ray|inprocess] [--rounds 2]``.
Prints one JSON line per (N, round) measurement, after a warm-up round, then one summary per N.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time

import numpy as np
import torch

from benchmarks.common import PeakSampler, emit, matmul_peak_gflops, workload_config
from bflray.models.registry import build_model
from bflray.protocol.backend import create_backend, shard_ranges
from bflray.protocol.round import build_plan, plan_cohort
from bflray.seeding import FEDERATION, Purpose, derive_rng
from bflray.training.synthetic import SyntheticWorkload

WORKLOAD = SyntheticWorkload(num_features=256, num_classes=9, samples_per_hospital=128)


def _flops_per_hospital(model_hidden: int = 128) -> float:
    """Matmul FLOPs of one hospital's epoch: forward plus the two backward products of each Linear."""
    f, h, c, n = WORKLOAD.num_features, model_hidden, WORKLOAD.num_classes, WORKLOAD.samples_per_hospital
    return 3 * 2 * n * (f * h + h * c)


def measure(
    n: int, *, backend_name: str, rounds: int, peak: float, memory_interval_s: float | None = 0.5
) -> tuple[list[dict[str, object]], dict[str, object]]:
    """Per-round records (after one warm-up round) and a summary of N hospitals' rounds.

    ``memory_interval_s``: how often the process tree's PSS is sampled, or None for no
    sampling (the peak is then not reported). A sample reads every process's smaps_rollup,
    about 20 ms of one core with a local Ray cluster, taken from the shards it measures."""
    config = workload_config(hospitals=n, backend=backend_name)
    if backend_name == "ray":
        import actors  # noqa: F401  (registers the Ray backend)
    records: list[dict[str, object]] = []
    sampling = PeakSampler(memory_interval_s) if memory_interval_s is not None else contextlib.nullcontext()
    with sampling as sampler:
        backend = create_backend(config)
        try:
            start = time.perf_counter()
            per_actor = config.runtime.hospitals_per_actor
            ranges = shard_ranges(n, hospitals_per_actor=per_actor, capacity=backend.capacity())
            backend.launch(config, ranges, WORKLOAD)
            setup = time.perf_counter() - start
            model = build_model("head", num_features=256, num_classes=9, hidden=128, dropout=0.1)
            params = model.init(derive_rng(0, 0, FEDERATION, Purpose.INIT))
            per_round = []
            for round_ in range(1, rounds + 2):  # round 1 warms up
                t0 = time.perf_counter()
                cohort = plan_cohort(config, round_)
                plan = build_plan(config, round_, params, cohort.used)
                t1 = time.perf_counter()
                parts = backend.call("train_reduce", plan)
                t2 = time.perf_counter()
                total, weight = np.sum([p.weighted_sum for p in parts], axis=0), sum(p.total_weight for p in parts)
                if weight > 0:  # every update rejected (non-finite): the global model stays
                    params = (total / weight).astype(np.float32)
                rejected = sum(len(p.rejected_ids) for p in parts)
                t3 = time.perf_counter()
                if round_ == 1:
                    continue
                seconds = t3 - t0
                per_round.append(seconds)
                records.append({
                    "benchmark": "scale", "backend": backend_name, "n": n, "round": round_, "shards": len(ranges),
                    "seconds_plan": round(t1 - t0, 4), "seconds_train": round(t2 - t1, 4),
                    "seconds_aggregate": round(t3 - t2, 4), "seconds_round": round(seconds, 4), "rejected": rejected,
                    "hospital_updates_per_s": round(n / seconds, 1),
                    "gflops": round(n * _flops_per_hospital() / seconds / 1e9, 2),
                    "fraction_of_peak": round(n * _flops_per_hospital() / seconds / 1e9 / peak, 3),
                    "train_loss": round(float(np.average(np.concatenate([p.losses for p in parts]))), 4),
                })
        finally:
            backend.close()
    best = min(per_round)
    summary: dict[str, object] = {
        "benchmark": "scale", "summary": True, "backend": backend_name, "n": n, "shards": len(ranges),
        "seconds_setup": round(setup, 2), "seconds_round_best": round(best, 4),
        "seconds_round_median": round(float(np.median(per_round)), 4), "ms_per_hospital": round(1000 * best / n, 4),
        "hospital_updates_per_s": round(n / best, 1),
        "peak_pss_bytes": None if sampler is None else sampler.peak,
        "peak_pss_gib": None if sampler is None else round(sampler.peak / 2**30, 3),
        "memory_interval_s": memory_interval_s, "matmul_peak_gflops": round(peak, 1),
        "torch_threads": torch.get_num_threads(), "load_average": list(os.getloadavg()),
    }
    return records, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="10,100,1000,10000", help="comma-separated hospital counts")
    parser.add_argument("--backend", default="ray", choices=["ray", "inprocess"])
    parser.add_argument("--rounds", type=int, default=2, help="measured rounds per N, after one warm-up round")
    parser.add_argument("--memory-interval", type=float, default=0.5,
                        help="seconds between PSS samples of the process tree; 0 for none")
    args = parser.parse_args()
    peak = matmul_peak_gflops()
    emit({"benchmark": "matmul_peak", "gflops": round(peak, 1), "torch_threads": torch.get_num_threads()})
    for n in (int(v) for v in args.n.split(",")):
        records, summary = measure(
            n, backend_name=args.backend, rounds=args.rounds, peak=peak,
            memory_interval_s=args.memory_interval if args.memory_interval > 0 else None,
        )
        for record in records:
            emit(record)
        emit(summary)


if __name__ == "__main__":
    main()
