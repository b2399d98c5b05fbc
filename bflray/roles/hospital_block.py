"""A block of hospitals hosted together: their data shards, and their local training.

A hospital is a logical entity, not a process: one block (in-process, or inside a
``HospitalShard`` actor) hosts a contiguous range of hospital ids and trains them at once.
Per-hospital state is arrays (row ranges into one feature matrix), never per-hospital
objects; the features are stored once (optionally as float16) and every stage reads them in
place.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import torch

from bflray.attacks.lazy import lazy_epochs
from bflray.attacks.poison import poison_block_data
from bflray.attacks.selection import active_attacks, run_malicious_mask

from bflray.config import Config
from bflray.data.federated import prepare_federated_data
from bflray.data.synthetic import synthetic_workload
from bflray.models.factory import build_model_spec
from bflray.models.registry import build_model
from bflray.models.stacked import StackedModel, evaluate
from bflray.roles.messages import GradientSum, PartialAggregate, RoundPlan, TrainResult
from bflray.training import full_gradient_sum, iter_train_chunks
from bflray.training.block import ChunkResult
from bflray.training.device import resolve_device
from bflray.training.synthetic import SyntheticWorkload


def encode_payload(params: np.ndarray) -> bytes:
    """Canonical bytes of one hospital's parameters: little-endian float32, row-major."""
    return np.ascontiguousarray(params, dtype="<f4").tobytes()


#: Why a hospital's update is rejected (``rejected_reason`` in ``hospitals.parquet``): it holds
#: a NaN, an infinite value (and no NaN), or it is not one row of the model's length.
REJECTED_NAN, REJECTED_INF, REJECTED_SHAPE = "nan", "inf", "shape"


def nonfinite_reasons(params: np.ndarray) -> np.ndarray:
    """For each row of ``params`` (hospitals × parameters): :data:`REJECTED_NAN`,
    :data:`REJECTED_INF`, or ``""`` when every value is finite (an object array of str).

    Each row is first summed in float64: a sum of float32 values cannot overflow there (at
    most 3.4e38 · 2³² ≪ 1.8e308), and any NaN or infinity makes it non-finite, so only the
    rows whose sum is not finite are inspected, and nothing of the matrix's size is allocated.
    (A float64 row's sum can overflow; such a row is inspected and kept if finite.)
    """
    x = np.asarray(params)
    reasons = np.full(len(x), "", dtype=object)
    if x.size == 0:
        return reasons
    rows = x.reshape(len(x), -1)
    with np.errstate(over="ignore", invalid="ignore"):
        sums = rows.sum(axis=1, dtype=np.float64)
    for i in np.flatnonzero(~np.isfinite(sums)):
        if np.isnan(rows[i]).any():
            reasons[i] = REJECTED_NAN
        elif not np.isfinite(rows[i]).all():
            reasons[i] = REJECTED_INF
    return reasons


class HospitalBlock:
    """Hospitals ``first … stop-1`` of the federation.

    Every block re-derives the same partition from the run's seed and keeps only its own
    hospitals' samples, so no data crosses process boundaries. With ``workload`` given, the
    block generates its hospitals' samples instead (scale benchmarks).
    """

    #: Whether the samples go to ``runtime.device`` (PoR blocks encode and sample on the CPU).
    trains_on_device = True

    def __init__(self, config: Config, first: int, stop: int, workload: SyntheticWorkload | None = None) -> None:
        n = config.federation.hospitals
        if not 0 <= first < stop <= n:
            raise ValueError(f"hospital range [{first}, {stop}) is not inside [0, {n})")
        self.config = config
        self.first = first
        self.hospital_ids = np.arange(first, stop, dtype=np.int64)
        seed = config.experiment.seed
        dtype = config.runtime.feature_dtype
        if workload is None and config.data.dataset == "synthetic":
            workload = synthetic_workload(config.data)
        if workload is None:
            data = prepare_federated_data(config, download=False)
            splits = data.splits[first:stop]
            sizes = np.array([len(s.train) for s in splits], dtype=np.int64)
            validation_sizes = np.array([len(s.validation) for s in splits], dtype=np.int64)
            # Training rows first, then validation rows, each hospital's contiguous.
            rows = np.concatenate([s.train for s in splits] + [s.validation for s in splits])
            dataset = data.dataset
            self.data = data
            features, labels = dataset.features[rows].astype(dtype), dataset.labels[rows].astype(np.int64)
            self.model: StackedModel = build_model_spec(config, dataset)
            num_classes, image_shape = dataset.num_classes, dataset.image_shape
        else:
            features, labels = workload.generate(seed=seed, hospital_ids=self.hospital_ids, dtype=dtype)
            sizes = np.full(stop - first, workload.samples_per_hospital, dtype=np.int64)
            validation_sizes = np.zeros(stop - first, dtype=np.int64)
            self.model = build_model(
                config.model.name, num_features=workload.num_features, num_classes=workload.num_classes,
                hidden=config.model.hidden, dropout=config.model.dropout,
            )
            num_classes, image_shape = workload.num_classes, None
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        features, labels = poison_block_data(  # data attacks: the malicious hospitals' training rows
            features, labels, config=config, hospital_ids=self.hospital_ids, starts=starts, sizes=sizes,
            num_classes=num_classes, image_shape=image_shape,
        )
        #: Lazy hospitals of the block (the ``lazy`` attack): they train ``attack.lazy_epochs`` epochs.
        lazy = "lazy" in active_attacks(config)
        self.lazy = run_malicious_mask(config)[self.hospital_ids] if lazy else np.zeros(stop - first, bool)
        # Training reads the samples where it runs: on the shard's GPU when it has one.
        device = resolve_device(config.runtime.device) if self.trains_on_device else torch.device("cpu")
        self.features = torch.from_numpy(np.ascontiguousarray(features)).to(device)
        self.labels = torch.from_numpy(np.ascontiguousarray(labels)).to(device)
        self.num_samples = sizes
        self.starts = starts
        self.validation_sizes = validation_sizes
        self.validation_starts = int(sizes.sum()) + np.concatenate([[0], np.cumsum(validation_sizes)[:-1]]).astype(np.int64)

    def describe(self) -> dict[str, int]:
        return {
            "first": self.first,
            "stop": self.first + len(self.hospital_ids),
            "samples": int(self.num_samples.sum()),
            "feature_bytes": int(self.features.element_size() * self.features.nelement()),
        }

    def _members(self, plan: RoundPlan) -> np.ndarray:
        """Positions in this block of the plan's cohort members it hosts (cohort is sorted)."""
        lo, hi = np.searchsorted(plan.cohort, [self.first, self.first + len(self.hospital_ids)])
        return (plan.cohort[lo:hi] - self.first).astype(np.int64)

    def _chunks(self, plan: RoundPlan, local: np.ndarray) -> Iterator[tuple[np.ndarray, ChunkResult]]:
        """The members ``local`` trained chunk by chunk: (their positions in ``local``, the chunk).
        Lazy members train apart, with ``attack.lazy_epochs`` epochs."""
        lazy = self.lazy[local]
        epochs = lazy_epochs(plan.training.epochs, self.config.attack.lazy_epochs)
        groups = [(np.flatnonzero(~lazy), plan.training), (np.flatnonzero(lazy), replace(plan.training, epochs=epochs))]
        for positions, settings in groups:
            if not len(positions):
                continue
            members = local[positions]
            for chunk in iter_train_chunks(
                self.model, plan.global_params, self.features, self.labels,
                hospital_ids=self.hospital_ids[members], starts=self.starts[members], sizes=self.num_samples[members],
                settings=settings, seed=self.config.experiment.seed, round_=plan.round,
                dropout=plan.dropout, full_gradient=plan.full_gradient,
            ):
                yield positions[chunk.lo : chunk.hi], chunk

    def train(self, plan: RoundPlan) -> TrainResult:
        """Train the block's members of ``plan.cohort`` from the global parameters."""
        local = self._members(plan)
        params = np.empty((len(local), self.model.size), dtype=np.float32)
        losses = np.empty(len(local), dtype=np.float64)
        for at, chunk in self._chunks(plan, local):
            params[at] = chunk.states
            losses[at] = chunk.losses
        return TrainResult(self.hospital_ids[local], params, self.num_samples[local], losses)

    def train_reduce(self, plan: RoundPlan) -> PartialAggregate:
        """Train like :meth:`train` but return only FedAvg's partial sums: a chunk's stacked
        states are folded in and dropped, so memory does not grow with the block.

        A hospital whose trained state holds a NaN or an infinite value is left out of the
        sums and named in the answer's ``rejected_ids`` and ``rejected_reasons``: one such
        hospital would otherwise turn the whole aggregate into NaN."""
        local = self._members(plan)
        total = np.zeros(self.model.size, dtype=np.float64)
        losses = np.empty(len(local), dtype=np.float64)
        weights = self.num_samples[local].astype(np.float64)
        kept = np.ones(len(local), dtype=bool)
        reasons = np.full(len(local), "", dtype=object)
        for at, chunk in self._chunks(plan, local):
            w = weights[at]
            summed = chunk.weighted_sum(w)
            # A NaN or infinity in any row reaches the sum (0·∞ is NaN too), so a finite sum
            # clears the whole chunk at no extra pass over its states.
            finite = np.ones(len(at), dtype=bool) if np.isfinite(summed).all() else _finite_rows(chunk.parts)
            if finite.all():
                total += summed
            else:  # rare: the fresh C × size copy only for a chunk with a bad row
                states = chunk.states
                reasons[at[~finite]] = nonfinite_reasons(states[~finite])
                kept[at] = finite
                total += w[finite] @ states[finite].astype(np.float64)
            losses[at] = chunk.losses
        return PartialAggregate(
            total, float(weights[kept].sum()), self.hospital_ids[local], self.num_samples[local], losses,
            rejected_ids=self.hospital_ids[local][~kept], rejected_reasons=reasons[~kept],
        )

    def full_gradient(self, plan: RoundPlan) -> GradientSum:
        """SVRG's first exchange: ``Σ_k n_k g_k`` over the block's cohort members at the global point."""
        local = self._members(plan)
        total = full_gradient_sum(
            self.model, plan.global_params, self.features, self.labels,
            starts=self.starts[local], sizes=self.num_samples[local],
            batch_size=plan.training.batch_size, chunk_size=plan.training.chunk_size,
        )
        return GradientSum(total, int(self.num_samples[local].sum()))

    def _validation(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Features and labels of the validation samples of the block's ``i``-th hospital."""
        start, size = int(self.validation_starts[i]), int(self.validation_sizes[i])
        rows = slice(start, start + size)
        return self.features[rows].cpu().numpy(), self.labels[rows].cpu().numpy()

    def evaluate_global(self, params: np.ndarray) -> dict[str, np.ndarray]:
        """The global model on each hospital's validation split: per hospital accuracy and
        loss (cross-entropy, or binary cross-entropy for multi-label) (NaN for a hospital without validation samples)."""
        accuracy = np.full(len(self.hospital_ids), np.nan)
        loss = np.full(len(self.hospital_ids), np.nan)
        state = np.array(params, dtype=np.float32)  # Ray's arrays are read-only
        for i in np.flatnonzero(self.validation_sizes):
            accuracy[i], loss[i] = evaluate(self.model, state, *self._validation(int(i)))
        return {"hospital_ids": self.hospital_ids, "accuracy": accuracy, "loss": loss}

    def score_candidate(self, previous: np.ndarray, candidate: np.ndarray, voters: np.ndarray) -> dict[str, np.ndarray]:
        """FLock voters' validation scores: accuracy of ``candidate`` and of ``previous`` (the
        global model before the round) on each voter's validation split, for the block's members
        of ``voters`` (sorted hospital ids). A voter without validation rows scores NaN."""
        voters = np.asarray(voters, dtype=np.int64)
        previous, candidate = np.array(previous, dtype=np.float32), np.array(candidate, dtype=np.float32)  # Ray's are read-only
        lo, hi = np.searchsorted(voters, [self.first, self.first + len(self.hospital_ids)])
        local = (voters[lo:hi] - self.first).astype(np.int64)
        scores = np.full((2, len(local)), np.nan)
        for j, i in enumerate(local):
            if self.validation_sizes[i] == 0:
                continue
            x, y = self._validation(int(i))
            for k, params in enumerate((candidate, previous)):
                scores[k, j] = evaluate(self.model, params, x, y)[0]
        return {"hospital_ids": self.hospital_ids[local], "candidate": scores[0], "previous": scores[1]}


def _finite_rows(parts: tuple[torch.Tensor, ...]) -> np.ndarray:
    """Which rows of a chunk's state (its ``parts``, ``C × k`` each) hold only finite values."""
    finite = torch.ones(parts[0].shape[0] if parts else 0, dtype=torch.bool)
    for part in parts:
        finite &= torch.isfinite(part).all(dim=1)
    return finite.numpy()
