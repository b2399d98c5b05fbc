"""Typed binding of ``contracts/FederationLedger.sol``: plans, rounds, attestations, finality.

Per round: the owner's record (payload root and model hash), the opening (task, draw seed,
validator snapshot) and the validators' attestations; a round is final once ``ceil(2n/3)`` of
the ``n`` validators registered when it opened attested the same (root, model hash).

Reverts come back as :class:`~bflray.errors.ContractRevertError`, e.g.
``RoundAlreadyRecorded(round=3)``, ``RoundNotRecorded(round=9)``, ``ZeroRoot(round=1)``,
``ZeroModelHash(round=1)``, ``OwnableUnauthorizedAccount(account=0x...)``,
``NotValidator(account=0x..., round=3)``, ``AlreadyAttested(validator=0x..., round=3, ...)``,
``RoundNotFinal(round=3)``, ``PlanAlreadyDefined(taskId=1)``, ``RoundNotOpened(round=9)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bflray.chain.binding import ContractBinding, check_bytes32
from bflray.chain.bulk import TxRequest
from bflray.chain.keys import Key
from bflray.chain.params import Plan
from bflray.chain.transactions import TxReceipt
from bflray.errors import ContractRevertError

__all__ = ["ATTEST_GAS", "FederationLedger", "RoundValidators"]

ATTEST_GAS = 300_000
"""Gas limit of a relayed attestation (a finalizing one uses about half of it)."""


@dataclass(frozen=True)
class RoundValidators:
    """A round's validator snapshot: ``count`` registered at opening, ``quorum = ceil(2·count/3)``."""

    count: int
    quorum: int
    epoch: int


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

    # ------------------------------------------------------------------ plan, openings, attestations

    def set_registry(self, registry: str) -> TxReceipt:
        """Set the registry whose validators attest (once; owner)."""
        return self._transact("setRegistry", registry)

    def registry(self) -> str:
        """The registry's address (zero before :meth:`set_registry`)."""
        return str(self._call("registry"))

    def define_plan(self, task_id: int, plan: Plan) -> TxReceipt:
        """Define a task's FL plan (once; owner). ``InvalidPlan`` for a zero model hash, rounds or committee."""
        check_bytes32("model_definition_hash", plan.model_definition_hash)
        check_bytes32("hyperparameters_hash", plan.hyperparameters_hash)
        return self._transact("definePlan", task_id, plan.as_tuple())

    def plan(self, task_id: int) -> Plan:
        """A task's plan (``PlanNotDefined`` otherwise)."""
        values = self._call("plan", task_id)
        return Plan(bytes(values[0]), bytes(values[1]), *(int(v) for v in values[2:]))

    def open_round(self, round: int, task_id: int, seed: bytes) -> TxReceipt:
        """Open a round of a task with its draw seed, snapshotting the validators (owner)."""
        return self._transact("openRound", round, task_id, check_bytes32("seed", seed))

    def is_opened(self, round: int) -> bool:
        """Whether ``round`` was opened."""
        return bool(self._call("isOpened", round))

    def round_opening(self, round: int) -> tuple[int, bytes]:
        """An opened round's task and draw seed (``RoundNotOpened`` otherwise)."""
        task_id, seed = self._call("roundOpening", round)
        return int(task_id), bytes(seed)

    def round_validators(self, round: int) -> RoundValidators:
        """An opened round's validator snapshot."""
        count, quorum, epoch = self._call("roundValidators", round)
        return RoundValidators(int(count), int(quorum), int(epoch))

    def attest(self, round: int, payload_root: bytes, model_hash: bytes) -> TxReceipt:
        """Attest ``(payload_root, model_hash)`` for ``round`` as the signer (a validator)."""
        root = check_bytes32("payload_root", payload_root)
        model = check_bytes32("model_hash", model_hash)
        return self._transact("attest", round, root, model)

    def attest_request(
        self, validator: Key, round: int, payload_root: bytes, model_hash: bytes, *, gas: int = ATTEST_GAS
    ) -> TxRequest:
        """A validator's own ``attest`` transaction, for :class:`~bflray.chain.bulk.BulkSender`.

        The gas limit is fixed (not estimated): the attestation that reaches the quorum also
        finalizes the round and costs more than the estimate made before the others land.
        """
        root = check_bytes32("payload_root", payload_root)
        model = check_bytes32("model_hash", model_hash)
        return TxRequest(validator, self.address, self.calldata("attest", round, root, model), gas)

    def attestation_count(self, round: int, payload_root: bytes, model_hash: bytes) -> int:
        """How many validators attested this pair for ``round``."""
        return int(self._call("attestationCount", round, payload_root, model_hash))

    def has_attested(self, round: int, validator: str) -> bool:
        """Whether ``validator`` attested ``round``."""
        return bool(self._call("hasAttested", round, validator))

    def is_final(self, round: int) -> bool:
        """Whether a quorum attested the same pair for ``round``."""
        return bool(self._call("isFinal", round))

    def final_payload_root(self, round: int) -> bytes:
        """The payload root a final round's validators agreed on (``RoundNotFinal`` otherwise)."""
        return bytes(self._call("finalPayloadRoot", round))

    def final_model_hash(self, round: int) -> bytes:
        """The model hash a final round's validators agreed on (``RoundNotFinal`` otherwise)."""
        return bytes(self._call("finalModelHash", round))

    def final_matches_record(self, round: int) -> bool:
        """Whether ``round`` is final and the validators' pair equals the owner's record."""
        return bool(self._call("finalMatchesRecord", round))
