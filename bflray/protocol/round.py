"""One federated round as a pipeline of timed stages over the roles, through a backend.

Stages of this first pipeline: plan → train → commit → aggregate → finalize → evaluate.
The plan stage draws the round's cohort (:mod:`bflray.protocol.cohort`); with the ``svrg``
optimiser the train stage starts with Federated SVRG's full-gradient exchange
(:mod:`bflray.training.svrg`). A round in which no selected hospital reports keeps the
global model. Each stage is timed into the round's record and the ``bflray_stage_duration_seconds``
histogram.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from bflray.aggregation import fedavg
from bflray.chain.merkle import keccak, leaf, merkle_root
from bflray.config import Config
from bflray.metrics import RunMetrics
from bflray.models import StackedModel, evaluate
from bflray.protocol.backend import Backend
from bflray.protocol.cohort import Cohort, cohort_target, draw_cohort
from bflray.roles import encode_payload
from bflray.roles.messages import GradientSum, RoundPlan, TrainResult
from bflray.training import LocalTraining
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
        spec: StackedModel,
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
            cohort = plan_cohort(cfg, round_)
            plan = build_plan(cfg, round_, global_params, cohort.used)
        with self._stage("train", seconds):
            if len(cohort.used) and plan.training.optimizer == "svrg":
                plan = replace(plan, full_gradient=global_gradient(self.backend.call("full_gradient", plan)))
            result = merge_results(self.backend.call("train", plan))
        with self._stage("commit", seconds):
            hashes = [self.store.put(encode_payload(row)) for row in result.params]
            self.store.put_manifest(RoundManifest(round_, tuple(int(h) for h in result.hospital_ids), tuple(hashes)))
            leaves = [leaf(int(h), p) for h, p in zip(result.hospital_ids, hashes, strict=True)]
            root = merkle_root(leaves) if leaves else bytes(32)
            offchain = self.store.size_bytes(hashes)
        with self._stage("aggregate", seconds):
            if len(result.hospital_ids):
                new_params = fedavg(result.params, result.num_samples).astype(np.float32)
            else:
                new_params = np.asarray(global_params, dtype=np.float32)
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
            "train_loss": float(np.average(result.losses, weights=result.num_samples)) if len(result.losses) else None,
            "hospitals": len(result.hospital_ids),
            "selected": len(cohort.selected),
            "dropped": len(cohort.dropped),
            "late": len(cohort.late),
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


def plan_cohort(config: Config, round_: int) -> Cohort:
    """The round's cohort as the federation config asks."""
    fed = config.federation
    target = cohort_target(
        num_hospitals=fed.hospitals, cohort_size=fed.cohort_size, cohort_fraction=fed.cohort_fraction
    )
    return draw_cohort(
        seed=config.experiment.seed, round_=round_, num_hospitals=fed.hospitals, target=target,
        over_provision=fed.over_provision, dropout_probability=fed.dropout_probability,
    )


def local_training(config: Config) -> LocalTraining:
    """The config's local training settings."""
    t = config.training
    return LocalTraining(
        optimizer=t.optimizer, epochs=t.local_epochs, batch_size=t.batch_size, learning_rate=t.learning_rate,
        adam_beta1=t.optimizer_beta1, adam_beta2=t.optimizer_beta2, adam_eps=t.optimizer_eps,
        chunk_size=t.local_chunk_size,
    )


def build_plan(config: Config, round_: int, global_params: np.ndarray, cohort: np.ndarray) -> RoundPlan:
    """The round's plan for the hospitals ``cohort`` (sorted ids)."""
    return RoundPlan(
        round=round_, global_params=global_params, cohort=cohort, training=local_training(config),
        dropout=config.model.dropout,
    )


def global_gradient(parts: Sequence[GradientSum]) -> np.ndarray:
    """SVRG's ``∇f(ω^t) = Σ_k n_k g_k / Σ_k n_k`` from the blocks' sums (float32)."""
    total = sum(int(p.num_samples) for p in parts)
    summed = np.sum([p.gradient_sum for p in parts], axis=0)
    return (summed / max(total, 1)).astype(np.float32)


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
