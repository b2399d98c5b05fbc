"""Typed binding of ``contracts/Registry.sol``: hospitals, validators, aggregation nodes, standing.

Reverts come back as :class:`~bflray.errors.ContractRevertError`, e.g.
``AlreadyRegistered(account=0x..., role=0x...)``, ``WrongStatus(account=0x..., have=2, need=0)``,
``IndexOutOfRange(index=7, count=5)``, ``AccessControlUnauthorizedAccount(account=0x..., neededRole=0x...)``.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_hash.auto import keccak

from bflray.chain.binding import ContractBinding
from bflray.chain.flock_reference import Status
from bflray.chain.transactions import TxReceipt

__all__ = ["ROLES", "Registry"]

ROLES: dict[str, bytes] = {
    "DEFAULT_ADMIN_ROLE": bytes(32),
    "HOSPITAL_ROLE": bytes(keccak(b"HOSPITAL_ROLE")),
    "VALIDATOR_ROLE": bytes(keccak(b"VALIDATOR_ROLE")),
    "AGGREGATOR_ROLE": bytes(keccak(b"AGGREGATOR_ROLE")),
    "MODERATOR_ROLE": bytes(keccak(b"MODERATOR_ROLE")),
}
"""The registry's AccessControl roles by name."""


def _role(role: str | bytes) -> bytes:
    return ROLES[role] if isinstance(role, str) else bytes(role)


class Registry(ContractBinding):
    """The participant registry. Its admin (the deployer) registers; moderators suspend and remove.

    Bulk calls (``register_*``, ``suspend``, ``remove``, ``reinstate``) are split into as many
    transactions as the block gas limit needs; ``chunk`` caps the accounts per transaction.
    """

    contract_name = "Registry"

    # ------------------------------------------------------------------ transactions

    def register_hospitals(self, accounts: Sequence[str], *, chunk: int | None = 300) -> list[TxReceipt]:
        """Append hospitals to the list, in order (index = position). ``AlreadyRegistered`` for a repeat."""
        return self._bulk("registerHospitals", accounts, chunk)

    def register_validators(self, accounts: Sequence[str], *, chunk: int | None = 300) -> list[TxReceipt]:
        """Register validators (each gets the next validator sequence number)."""
        return self._bulk("registerValidators", accounts, chunk)

    def register_aggregators(self, accounts: Sequence[str], *, chunk: int | None = 300) -> list[TxReceipt]:
        """Register aggregation nodes."""
        return self._bulk("registerAggregators", accounts, chunk)

    def suspend(self, accounts: Sequence[str]) -> list[TxReceipt]:
        """Suspend active accounts (moderator or admin). ``WrongStatus`` for one not active."""
        return self._bulk("suspend", accounts, None)

    def remove(self, accounts: Sequence[str]) -> list[TxReceipt]:
        """Remove accounts for good (moderator or admin). ``WrongStatus`` for one removed before."""
        return self._bulk("remove", accounts, None)

    def reinstate(self, accounts: Sequence[str]) -> list[TxReceipt]:
        """Reinstate suspended accounts (admin). ``WrongStatus`` for one not suspended."""
        return self._bulk("reinstate", accounts, None)

    def grant_role(self, role: str | bytes, account: str) -> TxReceipt:
        """Grant ``role`` (a name of :data:`ROLES` or its 32 bytes) to ``account`` (admin)."""
        return self._transact("grantRole", _role(role), account)

    def _bulk(self, function: str, accounts: Sequence[str], chunk: int | None) -> list[TxReceipt]:
        receipts, _ = self._transact_chunks(function, list(accounts), lambda part: (list(part),), chunk=chunk)
        return receipts

    # ------------------------------------------------------------------ views

    def has_role(self, role: str | bytes, account: str) -> bool:
        """Whether ``account`` holds ``role``."""
        return bool(self._call("hasRole", _role(role), account))

    def hospital_count(self) -> int:
        """Hospitals ever registered (the draw's index space)."""
        return int(self._call("hospitalCount"))

    def hospital_at(self, index: int) -> tuple[str, bool]:
        """The hospital at ``index`` and whether it is eligible now (``IndexOutOfRange`` beyond the list)."""
        hospital, eligible = self._call("hospitalAt", index)
        return str(hospital), bool(eligible)

    def hospitals(self, indices: Sequence[int] | None = None) -> list[tuple[str, bool]]:
        """:meth:`hospital_at` for many indices (default: all) in one batch request."""
        if indices is None:
            indices = range(self.hospital_count())
        return [(str(h), bool(e)) for h, e in self._call_many("hospitalAt", [(i,) for i in indices])]

    def hospital_index(self, account: str) -> int | None:
        """A registered hospital's list index, ``None`` if never registered."""
        found, index = self._call("hospitalIndex", account)
        return int(index) if found else None

    def is_eligible(self, account: str) -> bool:
        """Whether ``account`` is an active hospital (can be drawn)."""
        return bool(self._call("isEligible", account))

    def eligible_count(self) -> int:
        """How many hospitals are eligible now."""
        return int(self._call("eligibleCount"))

    def status_of(self, account: str) -> Status:
        """``Status.ACTIVE``, ``SUSPENDED`` or ``REMOVED``."""
        return Status(int(self._call("statusOf", account)))

    def statuses(self, accounts: Sequence[str]) -> list[Status]:
        """:meth:`status_of` for many accounts in one batch request."""
        return [Status(int(s)) for s in self._call_many("statusOf", [(a,) for a in accounts])]

    def validator_count(self) -> int:
        """How many accounts hold the validator role."""
        return int(self._call("validatorCount"))

    def validator_epoch(self) -> int:
        """The sequence number of the latest validator registration."""
        return int(self._call("validatorEpoch"))

    def validator_seq(self, account: str) -> int:
        """A validator's registration sequence number (0 for a non-validator)."""
        return int(self._call("validatorSeq", account))

    def can_attest(self, account: str, epoch: int) -> bool:
        """Whether ``account`` may attest a round opened at validator epoch ``epoch``."""
        return bool(self._call("canAttest", account, epoch))
