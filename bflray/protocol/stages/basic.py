"""The stages every pipeline shares: plan, train, commit, aggregate, finalize, evaluate.

- plan: draws the round's cohort (:mod:`bflray.protocol.cohort`) and builds its plan;
- train: the cohort trains locally on the shards (with ``svrg``, after Federated SVRG's
  full-gradient exchange); a round in which nobody reports keeps the global model; an update
  that is not one row of the model's length is rejected (:mod:`~bflray.protocol.stages.screen`);
- commit: each update goes to the off-chain store under its keccak256 and the round's
  manifest records who sent what, so the Merkle root can be recomputed from the store; under
  secure aggregation only the hashes (commitments) are kept, never the updates;
- aggregate: FedAvg, weighted by ``state.weights`` (sample counts unless a stage before set
  them), over the updates a stage before has not excluded;
- finalize: the root and the new model's hash go on chain in one transaction;
- evaluate (:mod:`~bflray.protocol.stages.evaluate`): the new global model on the held-out test split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from bflray.aggregation import fedavg
from bflray.chain.merkle import keccak, leaf, merkle_root
from bflray.config import Config
from bflray.protocol.cohort import Cohort, cohort_target, draw_cohort
from bflray.protocol.stages.screen import RejectedUpdates, mean_train_loss, record_rejected, split_by_length
from bflray.protocol.state import RoundState, RunContext
from bflray.roles import encode_payload
from bflray.roles.messages import GradientSum, RoundPlan, TrainResult
from bflray.store import RoundManifest
from bflray.training import LocalTraining


class PlanStage:
    name = "plan"

    def __call__(self, state: RoundState, ctx: RunContext) -> None:
        state.cohort = plan_cohort(ctx.config, state.round)
        state.plan = build_plan(ctx.config, state.round, state.global_params, state.cohort.used)
        state.record.update(
            selected=len(state.cohort.selected), dropped=len(state.cohort.dropped), late=len(state.cohort.late)
        )


class TrainStage:
    name = "train"

    def __call__(self, state: RoundState, ctx: RunContext) -> None:
        plan = state.plan
        if plan is None:
            raise RuntimeError(f"round {state.round}: train needs a plan")
        if len(plan.cohort) and plan.training.optimizer == "svrg":
            plan = replace(plan, full_gradient=global_gradient(ctx.backend.call("full_gradient", plan)))
            state.plan = plan
        answers = ctx.backend.call("train", plan, missing_ok=True)  # a dead shard's hospitals may sit it out
        state.faults += ctx.backend.take_faults()
        lost = sum(_members(plan.cohort, f["first_hospital"], f["stop_hospital"]) for f in state.faults
                   if f["action"] == "dropped" and f["method"] == "train")
        state.record.update(shard_faults=len(state.faults), hospitals_lost=lost)
        size = int(np.size(plan.global_params))
        # An update that is not one row of the model's length is rejected here, as the
        # answers are merged; the screen stage rejects NaN and infinite values later.
        screened = [split_by_length(a, size) for a in answers if a is not None]
        results = [clean for clean, _ in screened]
        updates = merge_results(results) if results else _no_updates(size)
        record_rejected(state, sum((rejected for _, rejected in screened), RejectedUpdates()))
        state.updates = updates
        state.weights = updates.num_samples.astype(np.float64)
        state.payloads = [encode_payload(row) for row in updates.params]
        losses = updates.losses
        state.record["train_loss"] = mean_train_loss(losses, updates.num_samples)
        state.record["hospitals"] = len(updates.hospital_ids)
        state.hospital_columns["train_loss"] = losses
        state.hospital_columns["num_samples"] = updates.num_samples


class CommitStage:
    name = "commit"

    def __call__(self, state: RoundState, ctx: RunContext) -> None:
        ids = state.require_updates().hospital_ids
        if ctx.config.aggregation.secure != "none":  # secret-shared updates: commitments only, nothing in the clear
            hashes = [keccak(p) for p in state.payloads]
            state.record["offchain_bytes"] = 0
        else:
            hashes = [ctx.store.put(p) for p in state.payloads]
            state.record["offchain_bytes"] = sum(len(p) for p in state.payloads)
        ctx.store.put_manifest(RoundManifest(state.round, tuple(int(h) for h in ids), tuple(hashes)))
        leaves = [leaf(int(h), p) for h, p in zip(ids, hashes, strict=True)]
        state.payload_hashes = hashes
        state.payload_root = merkle_root(leaves) if leaves else bytes(32)


class AggregateStage:
    name = "aggregate"

    def __call__(self, state: RoundState, ctx: RunContext) -> None:
        updates = state.require_updates()
        weights = state.weights if state.weights is not None else updates.num_samples.astype(np.float64)
        if len(updates.hospital_ids) and float(weights.sum()) > 0:
            state.candidate = fedavg(updates.params, weights).astype(np.float32)
        else:
            state.candidate = np.asarray(state.global_params, dtype=np.float32)
        state.hospital_columns["aggregation_weight"] = weights / weights.sum() if weights.sum() > 0 else weights


class FinalizeStage:
    name = "finalize"

    def __call__(self, state: RoundState, ctx: RunContext) -> None:
        if state.candidate is None:
            raise RuntimeError(f"round {state.round}: finalize needs a candidate model")
        state.model_hash = keccak(encode_payload(state.candidate))
        state.receipts.append(ctx.ledger.record_round(state.round, state.payload_root, state.model_hash))
        state.global_params = state.candidate


def round_target(config: Config) -> int:
    """Hospitals a round's cohort wants, as the federation config asks."""
    fed = config.federation
    return cohort_target(num_hospitals=fed.hospitals, cohort_size=fed.cohort_size, cohort_fraction=fed.cohort_fraction)


def plan_cohort(config: Config, round_: int, *, eligible: np.ndarray | None = None, target: int | None = None) -> Cohort:
    """The round's cohort as the federation config asks, among ``eligible`` hospitals (default all)."""
    fed = config.federation
    return draw_cohort(
        seed=config.experiment.seed, round_=round_, num_hospitals=fed.hospitals,
        target=round_target(config) if target is None else target,
        over_provision=fed.over_provision, dropout_probability=fed.dropout_probability, eligible=eligible,
    )


def local_training(config: Config, round_: int) -> LocalTraining:
    """The config's local training settings for ``round_``: round 1 trains ``warmup_epochs``
    when set (the PoR paper trains 25 epochs before the first aggregation, Tables VIII-IX)."""
    t = config.training
    epochs = t.warmup_epochs if round_ == 1 and t.warmup_epochs else t.local_epochs
    return LocalTraining(
        optimizer=t.optimizer, epochs=epochs, batch_size=t.batch_size, learning_rate=t.learning_rate,
        adam_beta1=t.optimizer_beta1, adam_beta2=t.optimizer_beta2, adam_eps=t.optimizer_eps,
        chunk_size=t.local_chunk_size,
    )


def build_plan(config: Config, round_: int, global_params: np.ndarray, cohort: np.ndarray) -> RoundPlan:
    """The round's plan for the hospitals ``cohort`` (sorted ids)."""
    return RoundPlan(
        round=round_, global_params=global_params, cohort=cohort, training=local_training(config, round_),
        dropout=config.model.dropout,
    )


def global_gradient(parts: Sequence[GradientSum]) -> np.ndarray:
    """SVRG's ``∇f(ω^t) = Σ_k n_k g_k / Σ_k n_k`` from the blocks' sums (float32)."""
    total = sum(int(p.num_samples) for p in parts)
    summed = np.sum([p.gradient_sum for p in parts], axis=0)
    return (summed / max(total, 1)).astype(np.float32)


def _no_updates(size: int) -> TrainResult:
    """Every shard of the round died and was left out: nobody trained."""
    return TrainResult(np.empty(0, np.int64), np.empty((0, size), np.float32), np.empty(0, np.int64), np.empty(0))


def _members(cohort: np.ndarray, first: int, stop: int) -> int:
    lo, hi = np.searchsorted(cohort, [first, stop])
    return int(hi - lo)


def merge_results(results: Sequence[TrainResult]) -> TrainResult:
    """The blocks' results as one, ordered by hospital id whatever the packing."""
    ids = np.concatenate([r.hospital_ids for r in results])
    order = np.argsort(ids, kind="stable")
    keys = results[0].extras.keys() if results else ()
    return TrainResult(
        hospital_ids=ids[order],
        params=np.concatenate([r.params for r in results])[order],
        num_samples=np.concatenate([r.num_samples for r in results])[order],
        losses=np.concatenate([r.losses for r in results])[order],
        extras={k: np.concatenate([r.extras[k] for r in results])[order] for k in keys},
    )
