"""Typed binding of ``contracts/Reputation.sol``: per-round reputation and aggregation weights.

Reverts come back as :class:`~bflray.errors.ContractRevertError`, e.g.
``AlreadyUpdated(hospital=0x..., round=3)``, ``CohortExceeded(round=3, updates=12, bound=10)``,
``PerformanceOutOfRange(hospital=0x..., performance=...)``, ``LengthMismatch(...)``,
``InvalidParams()``, the ledger's ``RoundNotOpened(round=9)``.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_hash.auto import keccak

from bflray.chain.binding import ContractBinding
from bflray.chain.flock_reference import RepRecord
from bflray.chain.params import ReputationParams
from bflray.chain.transactions import TxReceipt

__all__ = ["UPDATER_ROLE", "Reputation"]

UPDATER_ROLE = bytes(keccak(b"UPDATER_ROLE"))
"""The role allowed to record performance (the deployer has it)."""


class Reputation(ContractBinding):
    """Reputation (fixed point, 18 decimals) and aggregation weight of the hospitals."""

    contract_name = "Reputation"

    def update(
        self, round: int, hospitals: Sequence[str], performances: Sequence[int], *, chunk: int | None = 500
    ) -> list[TxReceipt]:
        """Record the round's participants' performance (fixed point in [0, ONE]), in chunks.

        Suspensions (``maxStrikes`` reached) happen through the registry in the same transaction.
        """
        if len(hospitals) != len(performances):
            raise ValueError(f"{len(hospitals)} hospitals but {len(performances)} performances")
        pairs = list(zip(hospitals, (int(p) for p in performances), strict=True))
        receipts, _ = self._transact_chunks(
            "update", pairs, lambda part: (round, [h for h, _ in part], [p for _, p in part]), chunk=chunk
        )
        return receipts

    def reserve_records(self, hospitals: Sequence[str], *, chunk: int = 400) -> list[TxReceipt]:
        """Write the hospitals' record slots ahead of their first update (admin), in chunks."""
        return [self._transact("reserveRecords", list(hospitals[i : i + chunk])) for i in range(0, len(hospitals), chunk)]

    def set_params(self, params: ReputationParams) -> TxReceipt:
        """Replace the update rule's parameters (admin)."""
        return self._transact("setParams", params.as_tuple())

    def grant_updater(self, account: str) -> TxReceipt:
        """Let ``account`` record performance (admin)."""
        return self._transact("grantRole", UPDATER_ROLE, account)

    def reputation_of(self, hospital: str) -> int:
        """Reputation, fixed point (the initial one before a first update)."""
        return int(self._call("reputationOf", hospital))

    def reputations(self, hospitals: Sequence[str]) -> list[int]:
        """:meth:`reputation_of` for many hospitals in one batch request."""
        return [int(v) for v in self._call_many("reputationOf", [(h,) for h in hospitals])]

    def weight_of(self, hospital: str) -> int:
        """Aggregation weight, fixed point (ONE before a first update)."""
        return int(self._call("weightOf", hospital))

    def weights(self, hospitals: Sequence[str]) -> list[int]:
        """:meth:`weight_of` for many hospitals in one batch request."""
        return [int(v) for v in self._call_many("weightOf", [(h,) for h in hospitals])]

    def record_of(self, hospital: str) -> RepRecord | None:
        """The hospital's record, ``None`` before its first update."""
        rep, weight, last_perf, last_round_plus_one, strikes = self._call("recordOf", hospital)
        if last_round_plus_one == 0:
            return None
        return RepRecord(int(rep), int(weight), int(last_perf), int(last_round_plus_one) - 1, int(strikes))

    def update_count(self, round: int) -> int:
        """Updates the round has taken."""
        return int(self._call("updateCount", round))

    def params(self) -> ReputationParams:
        """The update rule's parameters."""
        return ReputationParams(*(int(v) for v in self._call("params")))
