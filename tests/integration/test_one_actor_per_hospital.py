"""``runtime.hospitals_per_actor = 1``: one Ray actor per hospital still trains every hospital
exactly as packed shards and the in-process backend do."""

from __future__ import annotations

import numpy as np
import pytest

from bflray.config import Config, load_config
from bflray.models.registry import build_model
from bflray.protocol.backend import InProcessBackend, create_backend, shard_ranges
from bflray.protocol.round import build_plan, plan_cohort
from bflray.roles.messages import TrainResult
from bflray.seeding import FEDERATION, Purpose, derive_rng
from bflray.training.synthetic import SyntheticWorkload

pytestmark = [pytest.mark.integration, pytest.mark.ray]

HOSPITALS = 20
WORKLOAD = SyntheticWorkload(num_features=16, num_classes=3, samples_per_hospital=24)


def _config(backend: str, per_actor: int) -> Config:
    return load_config(None, [
        f"federation.hospitals={HOSPITALS}", f"runtime.backend={backend}", f"runtime.hospitals_per_actor={per_actor}",
        "model.name=head", "model.hidden=8", "model.dropout=0.2", "training.batch_size=8",
        "runtime.feature_dtype=float16", "metrics.enabled=false",
        # 20 worker processes each import torch; Ray starts two at a time on 2 CPUs
        "runtime.start_timeout_s=600",
    ])


def _round(backend_name: str, per_actor: int) -> tuple[list[TrainResult], int]:
    config = _config(backend_name, per_actor)
    backend = InProcessBackend() if backend_name == "inprocess" else create_backend(config)
    try:
        ranges = shard_ranges(HOSPITALS, hospitals_per_actor=per_actor, capacity=backend.capacity())
        backend.launch(config, ranges, WORKLOAD)
        model = build_model("head", num_features=16, num_classes=3, hidden=8, dropout=0.2)
        params = model.init(derive_rng(0, 0, FEDERATION, Purpose.INIT))
        plan = build_plan(config, 1, params, plan_cohort(config, 1).used)
        return backend.call("train", plan), len(ranges)
    finally:
        backend.close()


@pytest.mark.timeout(900)
def test_one_actor_per_hospital_trains_like_the_in_process_backend(ray_cluster: None) -> None:
    # Prepare / Execute: 20 hospitals, one actor each, and the same round in this process
    remote, shards = _round("ray", 1)
    local, _ = _round("inprocess", 0)
    # Assert: 20 actors answered, and every hospital's update matches
    assert shards == HOSPITALS
    ids = np.concatenate([r.hospital_ids for r in remote])
    np.testing.assert_array_equal(ids, np.arange(HOSPITALS))
    remote_params = np.concatenate([r.params for r in remote])
    local_params = np.concatenate([r.params for r in local])
    np.testing.assert_allclose(remote_params, local_params, atol=1e-6)
