"""``benchmarks/scale.py`` at a tiny N on the in-process backend: per-round records and a
summary, with and without the memory sampler (``benchmarks/vs_flower.py`` runs without)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `pytest` run from elsewhere than the repository root
    sys.path.insert(0, str(ROOT))

from benchmarks.scale import measure  # noqa: E402


def test_scale_measures_rounds_and_samples_memory_only_when_asked() -> None:
    records, summary = measure(12, backend_name="inprocess", rounds=2, peak=100.0, memory_interval_s=0.05)
    assert [r["round"] for r in records] == [2, 3]  # round 1 warms up
    losses = [float(r["train_loss"]) for r in records]  # type: ignore[arg-type]
    for r in records:
        assert r["n"] == 12 and r["rejected"] == 0
        assert float(r["seconds_round"]) >= float(r["seconds_train"]) > 0  # type: ignore[arg-type]
    assert 0 < losses[1] < losses[0] < 5  # FedAvg over the rounds learns
    assert int(summary["peak_pss_bytes"]) > 50 * 2**20 and summary["memory_interval_s"] == 0.05  # type: ignore[call-overload]
    _, quiet = measure(12, backend_name="inprocess", rounds=1, peak=100.0, memory_interval_s=None)
    assert quiet["peak_pss_bytes"] is None and float(quiet["seconds_round_best"]) > 0  # type: ignore[arg-type]
