"""Screening: a hospital's update that no model can hold is rejected before anything uses it.

An update (one hospital's trained parameters) is rejected when it is not one row of the
model's length (``"shape"``), or holds a NaN (``"nan"``) or an infinite value (``"inf"``).
Either can only come from a faulty hospital, and either would break every later step: a
NaN turns FedAvg's average into NaN, and a robust rule refuses the whole round. So the
hospital is left out of the round, which goes on with the rest: commit, privacy,
aggregation, voting and reputation see only the clean rows. Its row of
``hospitals.parquet`` stays, flagged by ``rejected_reason`` (empty for a used update), with
the columns recorded before it was rejected and a blank (NaN, −1, False, "") in the others;
``rounds.parquet`` counts the round's rejections in ``rejected``.

Where each check runs:

- wrong length: in the train stage, while the blocks' answers are merged
  (:func:`split_by_length`), since no matrix holds a row of another length;
- NaN or infinity: in :class:`ScreenStage`, right after the attack stage (so an attack that
  injects one is caught too) and before privacy (clipping would turn an infinity into NaN);
- the lean path, where a shard returns only FedAvg's partial sums
  (``HospitalBlock.train_reduce``), checks each chunk inside the shard and names the rejected
  hospitals in its answer (:func:`partial_rejections` gathers them).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from bflray.errors import BackendError
from bflray.protocol.state import RoundState, RunContext
from bflray.roles.hospital_block import REJECTED_SHAPE, nonfinite_reasons
from bflray.roles.messages import PartialAggregate, TrainResult

log = logging.getLogger("bflray")

#: Where a round keeps its rejected updates (until ``RoundState`` has a field for them).
_ATTRIBUTE = "rejected_updates"
#: Rejected hospitals a log line names before it says "and N more".
_LOGGED = 5


def _empty_ids() -> np.ndarray:
    return np.empty(0, dtype=np.int64)


def _empty_reasons() -> np.ndarray:
    return np.empty(0, dtype=object)


@dataclass(frozen=True)
class RejectedUpdates:
    """Hospitals whose update a round rejected, why, and what was recorded of them before.

    Attributes
    ----------
    hospital_ids:
        The rejected hospitals (int64).
    reasons:
        ``"nan"``, ``"inf"`` or ``"shape"`` for each (object array of str).
    columns:
        Their values of the ``hospitals.parquet`` columns that existed when they were
        rejected, each aligned with ``hospital_ids``.
    """

    hospital_ids: np.ndarray = field(default_factory=_empty_ids)
    reasons: np.ndarray = field(default_factory=_empty_reasons)
    columns: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.hospital_ids)

    def __add__(self, other: RejectedUpdates) -> RejectedUpdates:
        if not len(other):
            return self
        if not len(self):
            return other
        names = list(dict.fromkeys([*self.columns, *other.columns]))
        return RejectedUpdates(
            np.concatenate([self.hospital_ids, other.hospital_ids]),
            np.concatenate([self.reasons, other.reasons]),
            {name: _concat_filled(self.columns.get(name), len(self), other.columns.get(name), len(other))
             for name in names},
        )


def split_by_length(result: TrainResult, size: int) -> tuple[TrainResult, RejectedUpdates]:
    """A block's answer without the rows that are not one vector of ``size`` parameters.

    ``result.params`` is normally a ``hospitals × size`` matrix; a faulty block may instead
    send one array per hospital (an object array), of any shapes. The rejected rows keep
    their training loss and sample count (the train stage's columns). A block whose answer
    does not have one row per hospital is broken, not a hospital: :class:`BackendError`.
    """
    n = len(result.hospital_ids)
    params = result.params
    if len(params) != n or len(result.num_samples) != n or len(result.losses) != n:
        raise BackendError(
            f"a block answered for {n} hospitals with {len(params)} updates, {len(result.num_samples)} sample "
            f"counts and {len(result.losses)} losses (hospitals {result.hospital_ids[:5].tolist()}…)"
        )
    if params.dtype != object and params.ndim == 2 and params.shape[1] == size:
        return result, RejectedUpdates()
    ok = np.array([np.ndim(row) == 1 and np.size(row) == size for row in params], dtype=bool)
    rows = [np.asarray(params[i], dtype=np.float32) for i in np.flatnonzero(ok)]
    clean = TrainResult(
        hospital_ids=result.hospital_ids[ok],
        params=np.stack(rows) if rows else np.empty((0, size), dtype=np.float32),
        num_samples=result.num_samples[ok],
        losses=result.losses[ok],
        extras={k: v[ok] for k, v in result.extras.items()},
    )
    rejected = RejectedUpdates(
        result.hospital_ids[~ok],
        np.full(int((~ok).sum()), REJECTED_SHAPE, dtype=object),
        {"train_loss": result.losses[~ok], "num_samples": result.num_samples[~ok]},
    )
    return clean, rejected


def rejected_updates(state: RoundState) -> RejectedUpdates:
    """The updates ``state``'s round has rejected so far."""
    found = getattr(state, _ATTRIBUTE, None)
    return found if isinstance(found, RejectedUpdates) else RejectedUpdates()


def record_rejected(state: RoundState, rejected: RejectedUpdates) -> None:
    """Add ``rejected`` to the round's rejections, count them in ``rounds.parquet`` and log them."""
    total = rejected_updates(state) + rejected
    setattr(state, _ATTRIBUTE, total)
    state.record["rejected"] = len(total)
    if len(rejected):
        named = ", ".join(
            f"hospital {int(h)} ({r})" for h, r in zip(rejected.hospital_ids[:_LOGGED], rejected.reasons, strict=False)
        )
        more = f" and {len(rejected) - _LOGGED} more" if len(rejected) > _LOGGED else ""
        log.warning("round %d: rejected %d update(s): %s%s", state.round, len(rejected), named, more)


def drop_rejected(state: RoundState, reasons: np.ndarray) -> None:
    """Remove the updates whose ``reasons`` (aligned with ``state.updates``) are not empty from
    the round: from the updates, weights, payloads and per-hospital columns, keeping what was
    recorded of them for ``hospitals.parquet``."""
    updates = state.require_updates()
    n = len(updates.hospital_ids)
    bad = np.asarray(reasons, dtype=object) != ""
    if len(bad) != n:
        raise ValueError(f"round {state.round}: {len(bad)} screening results for {n} updates")
    if not bad.any():
        return
    keep = ~bad
    columns: dict[str, np.ndarray] = {}
    for name, values in state.hospital_columns.items():
        values = np.asarray(values)
        if len(values) != n:
            raise RuntimeError(f"round {state.round}: hospital column {name!r} has {len(values)} rows for {n} updates")
        columns[name] = values[bad]
        state.hospital_columns[name] = values[keep]
    state.updates = TrainResult(
        hospital_ids=updates.hospital_ids[keep],
        params=updates.params[keep],
        num_samples=updates.num_samples[keep],
        losses=updates.losses[keep],
        extras={k: v[keep] for k, v in updates.extras.items()},
    )
    if state.weights is not None:
        state.weights = np.asarray(state.weights)[keep]
    for name in ("payloads", "transactions", "payload_hashes"):
        items = getattr(state, name)
        if len(items) == n:
            setattr(state, name, [item for item, k in zip(items, keep, strict=True) if k])
    record_rejected(state, RejectedUpdates(updates.hospital_ids[bad], np.asarray(reasons, dtype=object)[bad], columns))
    state.record["hospitals"] = int(keep.sum())
    state.record["train_loss"] = mean_train_loss(state.updates.losses, state.updates.num_samples)


def mean_train_loss(losses: np.ndarray, num_samples: np.ndarray) -> float | None:
    """The round's training loss: the hospitals' losses weighted by their sample counts."""
    if not len(losses) or not num_samples.sum():
        return None
    return float(np.average(losses, weights=num_samples))


class ScreenStage:
    """Rejects the updates that hold a NaN or an infinite value (see the module docstring)."""

    name = "screen"

    def __call__(self, state: RoundState, ctx: RunContext) -> None:
        updates = state.require_updates()
        drop_rejected(state, nonfinite_reasons(updates.params))
        state.record["rejected"] = len(rejected_updates(state))


def partial_rejections(parts: Sequence[PartialAggregate]) -> RejectedUpdates:
    """The hospitals the shards left out of their partial sums (``train_reduce``), sorted by id."""
    ids = np.concatenate([_empty_ids(), *(np.asarray(p.rejected_ids, dtype=np.int64) for p in parts)])
    reasons = np.concatenate([_empty_reasons(), *(np.asarray(p.rejected_reasons, dtype=object) for p in parts)])
    order = np.argsort(ids, kind="stable")
    return RejectedUpdates(ids[order], reasons[order])


def hospital_table(state: RoundState) -> dict[str, np.ndarray]:
    """The round's rows of ``hospitals.parquet``: the used updates' columns, with the rejected
    hospitals' rows merged in by hospital id, and ``rejected_reason`` for every row."""
    if state.updates is None:
        return {}
    ids = state.updates.hospital_ids
    n = len(ids)
    columns: dict[str, np.ndarray] = {name: np.asarray(values) for name, values in state.hospital_columns.items()}
    columns["rejected_reason"] = np.full(n, "", dtype=str)  # a str array is a Parquet string even when empty
    rejected = rejected_updates(state)
    if not len(rejected):
        return {"round": np.full(n, state.round, dtype=np.int64), "hospital": ids, **columns}
    extra = {**rejected.columns, "rejected_reason": rejected.reasons.astype(str)}
    names = list(dict.fromkeys([*columns, *extra]))
    all_ids = np.concatenate([ids, rejected.hospital_ids])
    order = np.argsort(all_ids, kind="stable")
    merged = {name: _concat_filled(columns.get(name), n, extra.get(name), len(rejected))[order] for name in names}
    return {"round": np.full(len(all_ids), state.round, dtype=np.int64), "hospital": all_ids[order], **merged}


def _concat_filled(first: np.ndarray | None, n_first: int, second: np.ndarray | None, n_second: int) -> np.ndarray:
    """``first`` then ``second``, a blank of the other's type standing in for a missing one."""
    like = first if first is not None else second
    if like is None:
        raise ValueError("nothing to concatenate")
    a = np.asarray(first) if first is not None else _blank(like, n_first)
    b = np.asarray(second) if second is not None else _blank(like, n_second)
    return np.concatenate([a, b])


def _blank(like: np.ndarray, n: int) -> np.ndarray:
    """``n`` "no value" entries of ``like``'s type: NaN, −1, False or ""."""
    like = np.asarray(like)
    kind = like.dtype.kind
    if kind in "fc":
        return np.full(n, np.nan, dtype=like.dtype)
    if kind == "b":
        return np.zeros(n, dtype=bool)
    if kind in "iu":
        return np.full(n, -1 if kind == "i" else 0, dtype=like.dtype)
    if kind in "US":
        return np.full(n, "", dtype=like.dtype)
    return np.full(n, "", dtype=object)
