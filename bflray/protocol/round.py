"""One federated round as a pipeline of timed stages over the roles, through a backend.

Stages of this first pipeline: plan → train → commit → aggregate → finalize → evaluate.
Each stage is timed into the round's record and the ``bflray_stage_duration_seconds``
histogram.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from bflray.aggregation import fedavg
from bflray.chain.merkle import keccak, leaf, merkle_root
from bflray.config import Config
from bflray.metrics import RunMetrics
from bflray.models import MLPSpec, evaluate
from bflray.protocol.backend import Backend
from bflray.roles.messages import RoundPlan, TrainResult
from bflray.roles import encode_payload
from bflray.store import BlobStore, RoundManifest

STAGES = ("plan", "train", "commit", "aggregate", "finalize", "evaluate")


class Ledger(Protocol):
    """What the pipeline needs of the ledger contract's binding."""

    def record_round(self, round_: int, payload_root: bytes, model_hash: bytes) -> Any: ...


@dataclass(frozen=True)
class HeldOutSet:
    features: np.ndarray
    labels: np.ndarray


class RoundPipeline:
    """Runs rounds of the configured pipeline; holds nothing between rounds but its tools."""

    def __init__(
        self,
        *,
        config: Config,
        backend: Backend,
        ledger: Ledger,
        store: BlobStore,
        metrics: RunMetrics,
        spec: MLPSpec,
        test_set: HeldOutSet,
    ) -> None:
        self.config = config
        self.backend = backend
        self.ledger = ledger
        self.store = store
        self.metrics = metrics
        self.spec = spec
        self.test_set = test_set

    def run_round(self, round_: int, global_params: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        """Run round ``round_`` from ``global_params``; returns the new global model and the
        round's record (one row of ``rounds.parquet``)."""
        seconds: dict[str, float] = {}
        cfg = self.config
        with self._stage("plan", seconds):
            plan = RoundPlan(
                round=round_,
                global_params=global_params,
                cohort=np.arange(cfg.federation.hospitals, dtype=np.int64),
                local_epochs=cfg.training.local_epochs,
                batch_size=cfg.training.batch_size,
                learning_rate=cfg.training.learning_rate,
            )
        with self._stage("train", seconds):
            result = merge_results(self.backend.call("train", plan))
        with self._stage("commit", seconds):
            hashes = [self.store.put(encode_payload(row)) for row in result.params]
            self.store.put_manifest(RoundManifest(round_, tuple(int(h) for h in result.hospital_ids), tuple(hashes)))
            root = merkle_root([leaf(int(h), p) for h, p in zip(result.hospital_ids, hashes, strict=True)])
            offchain = self.store.size_bytes(hashes)
        with self._stage("aggregate", seconds):
            new_params = fedavg(result.params, result.num_samples).astype(np.float32)
        with self._stage("finalize", seconds):
            model_hash = keccak(encode_payload(new_params))
            receipt = self.ledger.record_round(round_, root, model_hash)
        with self._stage("evaluate", seconds):
            accuracy, loss = evaluate(self.spec, new_params, self.test_set.features, self.test_set.labels)
        onchain = receipt.calldata_bytes + receipt.log_bytes
        self._export(seconds, receipt.gas_used, onchain, offchain, accuracy, loss, len(result.hospital_ids))
        record: dict[str, Any] = {
            "round": round_,
            "accuracy": accuracy,
            "loss": loss,
            "train_loss": float(np.average(result.losses, weights=result.num_samples)),
            "hospitals": len(result.hospital_ids),
            **{f"seconds_{s}": seconds[s] for s in STAGES},
            "seconds_total": sum(seconds.values()),
            "gas_used": receipt.gas_used,
            "calldata_bytes": receipt.calldata_bytes,
            "log_bytes": receipt.log_bytes,
            "onchain_bytes": onchain,
            "offchain_bytes": offchain,
            "payload_root": "0x" + root.hex(),
            "model_hash": "0x" + model_hash.hex(),
            "tx_hash": receipt.tx_hash,
        }
        return new_params, record

    @contextmanager
    def _stage(self, name: str, seconds: dict[str, float]) -> Iterator[None]:
        start = time.perf_counter()
        yield
        elapsed = time.perf_counter() - start
        seconds[name] = elapsed
        self.metrics.stage_seconds.labels(stage=name).observe(elapsed)

    def _export(
        self, seconds: dict[str, float], gas: int, onchain: int, offchain: int, accuracy: float, loss: float, cohort: int
    ) -> None:
        m = self.metrics
        m.round_seconds.observe(sum(seconds.values()))
        m.rounds.inc()
        m.gas.inc(gas)
        m.onchain_bytes.inc(onchain)
        m.offchain_bytes.inc(offchain)
        m.accuracy.set(accuracy)
        m.loss.set(loss)
        m.hospitals.set(cohort)


def merge_results(results: Sequence[TrainResult]) -> TrainResult:
    """The blocks' results as one, ordered by hospital id whatever the packing."""
    ids = np.concatenate([r.hospital_ids for r in results])
    order = np.argsort(ids, kind="stable")
    return TrainResult(
        hospital_ids=ids[order],
        params=np.concatenate([r.params for r in results])[order],
        num_samples=np.concatenate([r.num_samples for r in results])[order],
        losses=np.concatenate([r.losses for r in results])[order],
    )
