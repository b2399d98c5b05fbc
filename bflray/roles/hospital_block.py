"""A block of hospitals hosted together: their data shards, and their local training.

A hospital is a logical entity, not a process: one block (in-process, or inside a
``HospitalShard`` actor) hosts a contiguous range of hospital ids and trains them at once.
"""

from __future__ import annotations

import numpy as np

from bflray.config import Config
from bflray.data import load_dataset, partition_iid, split_train_test
from bflray.models import MLPSpec
from bflray.models.factory import build_model_spec
from bflray.roles.messages import RoundPlan, TrainResult
from bflray.seeding import Purpose, derive_rng
from bflray.training import train_block_sgd


def encode_payload(params: np.ndarray) -> bytes:
    """Canonical bytes of one hospital's parameters: little-endian float32, row-major."""
    return np.ascontiguousarray(params, dtype="<f4").tobytes()


class HospitalBlock:
    """Hospitals ``first … stop-1`` of the federation.

    Every block re-derives the same partition from the run's seed and keeps only its own
    hospitals' samples, so no data crosses process boundaries.
    """

    def __init__(self, config: Config, first: int, stop: int) -> None:
        n = config.federation.hospitals
        if not 0 <= first < stop <= n:
            raise ValueError(f"hospital range [{first}, {stop}) is not inside [0, {n})")
        self.config = config
        self.hospital_ids = np.arange(first, stop, dtype=np.int64)
        dataset = load_dataset(config.data.dataset)
        seed = config.experiment.seed
        pool, _test = split_train_test(dataset, test_fraction=config.data.test_fraction, seed=seed)
        parts = partition_iid(pool, num_hospitals=n, seed=seed)[first:stop]
        sizes = np.array([len(p) for p in parts], dtype=np.int64)
        rows = np.concatenate(parts)
        self.features = dataset.features[rows]
        self.labels = dataset.labels[rows]
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        self.local_samples = [np.arange(offsets[i], offsets[i + 1]) for i in range(len(parts))]
        self.num_samples = sizes
        self.spec: MLPSpec = build_model_spec(config, dataset)

    def describe(self) -> dict[str, int]:
        return {
            "first": int(self.hospital_ids[0]),
            "stop": int(self.hospital_ids[-1]) + 1,
            "samples": int(self.num_samples.sum()),
        }

    def train(self, plan: RoundPlan) -> TrainResult:
        """Train the block's members of ``plan.cohort`` from the global parameters."""
        first = int(self.hospital_ids[0])
        members = plan.cohort[(plan.cohort >= first) & (plan.cohort < first + len(self.hospital_ids))]
        local = (members - first).astype(np.int64)
        seed = self.config.experiment.seed
        rngs = [derive_rng(seed, plan.round, int(h), Purpose.SHUFFLE) for h in members]
        params, losses = train_block_sgd(
            self.spec,
            plan.global_params,
            self.features,
            self.labels,
            [self.local_samples[i] for i in local],
            rngs,
            epochs=plan.local_epochs,
            batch_size=plan.batch_size,
            learning_rate=plan.learning_rate,
        )
        return TrainResult(
            hospital_ids=members.astype(np.int64),
            params=params,
            num_samples=self.num_samples[local],
            losses=losses,
        )
