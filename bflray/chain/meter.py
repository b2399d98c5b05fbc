"""What the chain costs, per round and per contract function: gas, time, bytes, storage growth.

:class:`ChainMeter` collects one record per transaction (tagged with the current round, the
contract and the function) and aggregates them into ``chain.parquet`` rows::

    round, contract, function, count, gas, seconds, calldata_bytes, log_bytes, new_slots, freed_slots

- ``gas``, ``calldata_bytes`` (the transaction's input) and ``log_bytes`` (each log's data plus
  32 bytes per topic) come from the receipts;
- ``seconds`` is wall time spent sending and waiting (for a burst of many senders' transactions,
  the burst's time shared evenly among them, so the sum is the wall time);
- ``new_slots`` counts storage slots a transaction wrote that were empty (absent or zero) before
  it, ``freed_slots`` those it set back to zero: from the node's state diff,
  ``debug_traceBlockByNumber`` with ``prestateTracer`` in ``diffMode`` (anvil has it), fetched
  lazily, one request per block, when rows are asked for. Without tracing both are ``None``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from bflray.chain.rpc import JsonRpc, RpcError
from bflray.chain.transactions import TxReceipt
from bflray.errors import ChainError

if TYPE_CHECKING:
    import pyarrow

    from bflray.chain.bulk import BulkResult

__all__ = ["ChainMeter", "TxRecord", "storage_diff"]

_TRACER = {"tracer": "prestateTracer", "tracerConfig": {"diffMode": True, "disableCode": True}}
ROW_FIELDS = (
    "round",
    "contract",
    "function",
    "count",
    "gas",
    "seconds",
    "calldata_bytes",
    "log_bytes",
    "new_slots",
    "freed_slots",
)


@dataclass(frozen=True)
class TxRecord:
    """One metered transaction.

    Attributes
    ----------
    round:
        The round it belongs to (``-1`` for setup outside any round).
    contract, function:
        What it called (``"constructor"`` for a deployment).
    receipt:
        Its cost summary.
    seconds:
        Wall time attributed to it.
    new_slots, freed_slots:
        Storage slots it made non-empty and emptied, once traced (else ``None``).
    """

    round: int
    contract: str
    function: str
    receipt: TxReceipt
    seconds: float
    new_slots: int | None = None
    freed_slots: int | None = None


def storage_diff(trace: Mapping[str, Any]) -> tuple[int, int]:
    """``(new, freed)`` storage slots of one ``prestateTracer`` diff-mode result.

    A slot is new when it is non-zero after the transaction and was absent or zero before it;
    freed when it was non-zero before and is zero (or absent from ``post``) after.
    """
    pre: Mapping[str, Any] = trace.get("pre") or {}
    post: Mapping[str, Any] = trace.get("post") or {}
    new = freed = 0
    for account in set(pre) | set(post):
        before: Mapping[str, str] = (pre.get(account) or {}).get("storage") or {}
        after_account = post.get(account)
        after: Mapping[str, str] = (after_account or {}).get("storage") or {}
        for slot, value in after.items():
            if int(value, 16) != 0 and int(before.get(slot, "0x0"), 16) == 0:
                new += 1
        if after_account is None:  # account unchanged or destroyed: nothing written we can see
            continue
        for slot, value in before.items():
            if int(value, 16) != 0 and int(after.get(slot, "0x0"), 16) == 0:
                freed += 1
    return new, freed


class ChainMeter:
    """Collects transactions' costs and aggregates them per (round, contract, function).

    Parameters
    ----------
    rpc:
        The node, for the state diffs; ``None`` skips storage accounting.
    trace_storage:
        Whether to count new and freed storage slots (one trace request per block, lazily).

    Attributes
    ----------
    round:
        The round new records are tagged with (``-1``: setup). Set it with :meth:`begin_round`
        or the :meth:`in_round` context manager.
    on_record:
        Called with each new record as it is made (the run's metrics observe transactions
        through it); storage counts are not known yet then.
    """

    def __init__(self, rpc: JsonRpc | None = None, *, trace_storage: bool = True) -> None:
        self.rpc = rpc
        self.trace_storage = trace_storage and rpc is not None
        self.round = -1
        self._records: list[TxRecord] = []
        self._lock = threading.Lock()
        self.on_record: Callable[[TxRecord], None] | None = None

    # ------------------------------------------------------------------ recording

    def begin_round(self, round: int) -> None:
        """Tag the records that follow with ``round``."""
        self.round = round

    @contextmanager
    def in_round(self, round: int) -> Iterator[ChainMeter]:
        """Tag the records made inside the block with ``round``, then restore the previous tag."""
        previous, self.round = self.round, round
        try:
            yield self
        finally:
            self.round = previous

    def record(self, contract: str, function: str, receipt: TxReceipt, seconds: float) -> None:
        """Record one mined transaction."""
        record = TxRecord(self.round, contract, function, receipt, seconds)
        with self._lock:
            self._records.append(record)
        self._notify([record])

    def record_burst(self, contract: str, function: str, result: BulkResult) -> None:
        """Record a burst of one function's transactions, its wall time shared evenly."""
        if not result.receipts:
            return
        share = result.seconds / len(result.receipts)
        records = [TxRecord(self.round, contract, function, r, share) for r in result.receipts]
        with self._lock:
            self._records += records
        self._notify(records)

    def _notify(self, records: list[TxRecord]) -> None:
        if self.on_record is not None:
            for record in records:
                self.on_record(record)

    @property
    def records(self) -> list[TxRecord]:
        """Every record kept, storage counts filled in where traced."""
        self._trace_pending()
        with self._lock:
            return list(self._records)

    # ------------------------------------------------------------------ aggregation

    def rows(self, round: int | None = None) -> list[dict[str, Any]]:
        """Aggregated rows (see the module docstring), for ``round`` or all rounds, sorted.

        ``new_slots``/``freed_slots`` are ``None`` when storage is not traced.
        """
        groups: dict[tuple[int, str, str], dict[str, Any]] = {}
        for rec in self.records:
            if round is not None and rec.round != round:
                continue
            key = (rec.round, rec.contract, rec.function)
            row = groups.get(key)
            if row is None:
                row = dict.fromkeys(ROW_FIELDS, 0)
                row.update(round=rec.round, contract=rec.contract, function=rec.function, seconds=0.0)
                if not self.trace_storage:
                    row.update(new_slots=None, freed_slots=None)
                groups[key] = row
            row["count"] += 1
            row["gas"] += rec.receipt.gas_used
            row["seconds"] += rec.seconds
            row["calldata_bytes"] += rec.receipt.calldata_bytes
            row["log_bytes"] += rec.receipt.log_bytes
            if self.trace_storage:
                row["new_slots"] += rec.new_slots or 0
                row["freed_slots"] += rec.freed_slots or 0
        return [groups[key] for key in sorted(groups)]

    def totals(self, round: int | None = None) -> dict[str, Any]:
        """One row summing every function (``contract``/``function`` are ``"*"``)."""
        total: dict[str, Any] = dict.fromkeys(ROW_FIELDS, 0)
        total.update(round=-1 if round is None else round, contract="*", function="*", seconds=0.0)
        for row in self.rows(round):
            for name in ("count", "gas", "seconds", "calldata_bytes", "log_bytes"):
                total[name] += row[name]
            for name in ("new_slots", "freed_slots"):
                total[name] = None if row[name] is None else (total[name] or 0) + row[name]
        return total

    def drain(self, round: int | None = None) -> list[dict[str, Any]]:
        """:meth:`rows` for ``round`` (or all), then forget those records (for per-round writing)."""
        rows = self.rows(round)
        with self._lock:
            self._records = [r for r in self._records if round is not None and r.round != round]
        return rows

    @staticmethod
    def table(rows: Sequence[Mapping[str, Any]]) -> pyarrow.Table:
        """``rows`` as an Arrow table with ``chain.parquet``'s schema."""
        import pyarrow as pa

        schema = pa.schema(
            [
                ("round", pa.int64()),
                ("contract", pa.string()),
                ("function", pa.string()),
                ("count", pa.int64()),
                ("gas", pa.int64()),
                ("seconds", pa.float64()),
                ("calldata_bytes", pa.int64()),
                ("log_bytes", pa.int64()),
                ("new_slots", pa.int64()),
                ("freed_slots", pa.int64()),
            ]
        )
        return pa.Table.from_pylist([dict(row) for row in rows], schema=schema)

    # ------------------------------------------------------------------ storage

    def _trace_pending(self) -> None:
        if not self.trace_storage or self.rpc is None:
            return
        with self._lock:
            pending = {r.receipt.block_number for r in self._records if r.new_slots is None}
            if not pending:
                return
            blocks = sorted(pending)
        diffs: dict[str, tuple[int, int]] = {}
        try:
            answers = self.rpc.batch([("debug_traceBlockByNumber", [hex(b), _TRACER]) for b in blocks])
        except RpcError as exc:
            raise ChainError(f"cannot trace storage writes (debug_traceBlockByNumber): {exc}") from exc
        for traces in answers:
            for item in traces or []:
                diffs[str(item.get("txHash", "")).lower()] = storage_diff(item.get("result") or {})
        with self._lock:
            for i, rec in enumerate(self._records):
                if rec.new_slots is None:
                    new, freed = diffs.get(rec.receipt.tx_hash.lower(), (0, 0))
                    self._records[i] = replace(rec, new_slots=new, freed_slots=freed)
