"""Typed binding of ``contracts/FederationLedger.sol``: per round, payload root and model hash.

Reverts come back as :class:`~bflray.errors.ContractRevertError`, e.g.
``RoundAlreadyRecorded(round=3)``, ``RoundNotRecorded(round=9)``, ``ZeroRoot(round=1)``,
``ZeroModelHash(round=1)``, ``OwnableUnauthorizedAccount(account=0x...)``.
"""

from __future__ import annotations

from collections.abc import Sequence

from bflray.chain.binding import ContractBinding, check_bytes32
from bflray.chain.transactions import TxReceipt
from bflray.errors import ContractRevertError

__all__ = ["FederationLedger"]


class FederationLedger(ContractBinding):
    """The ledger of rounds. Only its owner (the deployer, by default) records rounds."""

    contract_name = "FederationLedger"

    def record_round(self, round: int, payload_root: bytes, model_hash: bytes) -> TxReceipt:
        """Record round ``round``'s Merkle root over its payloads and its new model hash.

        Raises
        ------
        ContractRevertError
            ``RoundAlreadyRecorded``, ``ZeroRoot``, ``ZeroModelHash`` or
            ``OwnableUnauthorizedAccount``.
        """
        root = check_bytes32("payload_root", payload_root)
        model = check_bytes32("model_hash", model_hash)
        return self._transact("recordRound", round, root, model)

    def payload_root(self, round: int) -> bytes:
        """The payload root of a recorded round (``RoundNotRecorded`` otherwise)."""
        return bytes(self._call("payloadRoot", round))

    def model_hash(self, round: int) -> bytes:
        """The model hash of a recorded round (``RoundNotRecorded`` otherwise)."""
        return bytes(self._call("modelHash", round))

    def is_recorded(self, round: int) -> bool:
        """Whether round ``round`` has been recorded."""
        return bool(self._call("isRecorded", round))

    def latest_round(self) -> int | None:
        """The highest round number recorded, or ``None`` before any round."""
        try:
            return int(self._call("latestRound"))
        except ContractRevertError as exc:
            if exc.error_name == "NoRoundRecorded":
                return None
            raise

    def round_count(self) -> int:
        """How many rounds have been recorded."""
        return int(self._call("roundCount"))

    def owner(self) -> str:
        """The address allowed to record rounds."""
        return str(self._call("owner"))

    def payload_leaf(self, hospital_id: int, payload_hash: bytes) -> bytes:
        """The leaf the contract computes for a payload (see :func:`bflray.chain.merkle.leaf`)."""
        return bytes(self._call("payloadLeaf", hospital_id, check_bytes32("payload_hash", payload_hash)))

    def verify_payload(self, round: int, hospital_id: int, payload_hash: bytes, proof: Sequence[bytes]) -> bool:
        """Whether a hospital's payload hash is in round ``round``'s payload tree, by ``proof``.

        Raises
        ------
        ContractRevertError
            ``RoundNotRecorded`` for a round not recorded.
        """
        siblings = [check_bytes32(f"proof[{i}]", item) for i, item in enumerate(proof)]
        return bool(
            self._call("verifyPayload", round, hospital_id, check_bytes32("payload_hash", payload_hash), siblings)
        )
