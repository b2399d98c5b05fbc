"""Typed binding of ``contracts/StakeVoting.sol``: FLock's draw, votes, reward and slash.

A round goes ``open_round`` → ``draw_all`` (chunks of Fisher-Yates steps) → votes (each voter's
own ``vote`` transaction, or EIP-712 ballots relayed with ``vote_batch``) → ``settle_all``
(chunks of participants). Balances are pulled: refunds and rewards are credited to
``claimable_of`` and withdrawn by their owners.

Reverts come back as :class:`~bflray.errors.ContractRevertError`, e.g.
``ForgedBallot(voter=0x..., signer=0x...)``, ``NotCommitteeMember(account=0x..., round=3)``,
``AlreadyVoted(voter=0x..., round=3, previous=1)``, ``WrongPhase(round=3, have=1, need=2)``,
``VotingStillOpen(round=3, time=..., voteEnd=...)``, ``RoundInProgress(round=2)``,
``InsufficientBalance(hospital=0x..., have=3, need=8)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from bflray.chain.ballots import BALLOT_TYPEHASH, BallotDomain, SignedBallot, ballot_digest, sign_ballot
from bflray.chain.binding import ContractBinding
from bflray.chain.bulk import TxRequest
from bflray.chain.flock_reference import Choice, Role
from bflray.chain.keys import Key
from bflray.chain.params import Stakes
from bflray.chain.transactions import TxReceipt
from bflray.errors import ChainError

__all__ = [
    "BALLOT_TYPEHASH",
    "BallotDomain",
    "DrawOutcome",
    "Drawn",
    "Phase",
    "RoundState",
    "SettleOutcome",
    "SignedBallot",
    "StakeVoting",
]

class Phase(IntEnum):
    """``StakeVoting.Phase``."""

    NONE = 0
    DRAWING = 1
    VOTING = 2
    SETTLING = 3
    SETTLED = 4


@dataclass(frozen=True)
class RoundState:
    """``StakeVoting.RoundState`` (see the contract for each field)."""

    seq: int
    phase: Phase
    winner: Choice
    accepted: bool
    n: int
    steps: int
    proposers_wanted: int
    voters_wanted: int
    proposers: int
    voters: int
    proposers_staked: int
    voters_staked: int
    accepts: int
    rejects: int
    cursor: int
    vote_end: int
    seed: bytes
    proposer_stake: int
    voter_stake: int
    proposer_payout: int
    winner_payout: int

    @classmethod
    def from_tuple(cls, values: Sequence[Any]) -> RoundState:
        """From the ABI tuple."""
        v = list(values)
        v[1], v[2] = Phase(v[1]), Choice(v[2])
        v[16] = bytes(v[16])
        return cls(*v)


@dataclass(frozen=True)
class Drawn:
    """One hospital drawn: its role and whether it could stake (if not, it was removed)."""

    hospital: str
    role: Role
    staked: bool


@dataclass(frozen=True)
class DrawOutcome:
    """A completed draw, from its ``Drawn`` events.

    Attributes
    ----------
    drawn:
        Every hospital drawn, in draw order.
    proposers, voters:
        The staked proposers and voters, in draw order.
    removed:
        The drawn hospitals that could not stake (removed from the registry).
    receipts:
        The ``draw`` transactions.
    """

    drawn: tuple[Drawn, ...]
    proposers: tuple[str, ...]
    voters: tuple[str, ...]
    removed: tuple[str, ...]
    receipts: tuple[TxReceipt, ...]


@dataclass(frozen=True)
class SettleOutcome:
    """A settled round, from its ``RoundTallied`` and ``Credited`` events.

    Attributes
    ----------
    accepted, accepts, rejects, proposer_payout, winner_payout, to_pool, from_pool:
        As tallied (see :class:`bflray.chain.flock_reference.Settlement`).
    credits:
        Amount credited to each participant, by address (non-zero credits only).
    receipts:
        The ``settle`` transactions.
    """

    accepted: bool
    accepts: int
    rejects: int
    proposer_payout: int
    winner_payout: int
    to_pool: int
    from_pool: int
    credits: dict[str, int]
    receipts: tuple[TxReceipt, ...]


class StakeVoting(ContractBinding):
    """Stake-based voting with reward and slash. Its owner (the deployer) opens and draws rounds."""

    contract_name = "StakeVoting"

    # ------------------------------------------------------------------ ballots (EIP-712)

    @property
    def domain(self) -> BallotDomain:
        """The EIP-712 domain of this contract (chain id and address), for signing without web3."""
        domain: BallotDomain | None = getattr(self, "_domain", None)
        if domain is None:
            domain = BallotDomain(int(self.signer.web3.eth.chain_id), self.address)
            self._domain = domain
        return domain

    def domain_separator(self) -> bytes:
        """The EIP-712 domain separator (name ``bflray StakeVoting``, version ``1``, chain id, this address)."""
        return self.domain.separator

    def ballot_digest(self, round: int, voter: str, accept: bool) -> bytes:
        """The digest a voter signs, computed locally (equals the contract's ``ballotDigest``)."""
        return ballot_digest(self.domain, round, voter, accept)

    def ballot_digest_on_chain(self, round: int, voter: str, accept: bool) -> bytes:
        """The contract's ``ballotDigest`` (a view call)."""
        return bytes(self._call("ballotDigest", round, voter, accept))

    def sign_ballot(self, key: Key, round: int, accept: bool) -> SignedBallot:
        """``key``'s signed ballot for ``round``."""
        return sign_ballot(key, self.domain, round, accept)

    # ------------------------------------------------------------------ tokens

    def deposit(self, amount: int) -> TxReceipt:
        """Deposit the signer's approved tokens to its balance."""
        return self._transact("deposit", amount)

    def deposit_for(self, hospitals: Sequence[str], amounts: Sequence[int], *, chunk: int | None = 500) -> list[TxReceipt]:
        """Credit hospitals' balances from the signer's approved tokens, in chunks."""
        if len(hospitals) != len(amounts):
            raise ValueError(f"{len(hospitals)} hospitals but {len(amounts)} amounts")
        pairs = list(zip(hospitals, amounts, strict=True))
        receipts, _ = self._transact_chunks(
            "depositFor", pairs, lambda part: ([h for h, _ in part], [a for _, a in part]), chunk=chunk
        )
        return receipts

    def reserve_slots(self, hospitals: Sequence[str], *, drawn_slots: int, chunk: int = 400) -> list[TxReceipt]:
        """Write the slots the rounds would create on first use (owner; see ``reserveSlots``):
        the participation records of ``hospitals`` (registry order, from index 0), their
        permutation positions, and ``drawn_slots`` draw entries, ``chunk`` of each per transaction."""
        receipts: list[TxReceipt] = []
        total = max(len(hospitals), drawn_slots)
        for first in range(0, total, chunk):
            part = list(hospitals[first : first + chunk])
            positions = max(0, min(chunk, len(hospitals) - first))
            drawn = min(drawn_slots, first + chunk)
            receipts.append(self._transact("reserveSlots", part, first, positions, drawn))
        return receipts

    def withdraw(self, amount: int) -> TxReceipt:
        """Withdraw ``amount`` of the signer's balance as tokens."""
        return self._transact("withdraw", amount)

    def fund_pool(self, amount: int) -> TxReceipt:
        """Add the signer's approved tokens to the proposers' reward pool."""
        return self._transact("fundPool", amount)

    def reward_contributions(self, round: int, hospitals: Sequence[str], amounts: Sequence[int]) -> TxReceipt:
        """Pay ``amounts`` from the pool to ``hospitals``' balances for ``round`` (owner; one chunk)."""
        return self._transact("rewardContributions", round, list(hospitals), [int(a) for a in amounts])

    def set_stakes(self, stakes: Stakes) -> TxReceipt:
        """Set γ_p, γ_v, the reward and the voting period between rounds (owner)."""
        return self._transact("setStakes", stakes.as_tuple())

    # ------------------------------------------------------------------ rounds

    def open_round(self, round: int) -> TxReceipt:
        """Open ``round`` (opened on the ledger) for drawing (owner)."""
        return self._transact("openRound", round)

    def draw(self, round: int, max_steps: int) -> TxReceipt:
        """Take up to ``max_steps`` steps of the draw (owner)."""
        return self._transact("draw", round, max_steps)

    def draw_all(self, round: int, *, steps_per_call: int = 256) -> DrawOutcome:
        """Draw the whole round, each call as many steps as fit under the block gas limit.

        ``steps_per_call`` is the first call's size; later calls are sized from the gas the
        previous one used per step.
        """
        raws: list[Any] = []
        receipts: list[TxReceipt] = []
        size = max(1, steps_per_call)
        state = self.round_state(round)
        steps = state.steps
        while state.phase == Phase.DRAWING:
            remaining = max(1, state.n - steps)
            taken, receipt, raw = self._transact_sized(
                "draw", lambda k: (round, k), min(size, remaining), predicted=bool(receipts)
            )
            receipts.append(receipt)
            raws.append(raw)
            if self.decode_events([raw], "DrawCompleted"):
                break
            steps += taken
            size = self._next_size(taken, receipt.gas_used)
        if not receipts:
            raise ChainError(f"round {round} is not drawing (phase {self.round_state(round).phase.name})")
        drawn = tuple(Drawn(e["hospital"], Role(e["role"]), bool(e["staked"])) for e in self.decode_events(raws, "Drawn"))
        return DrawOutcome(
            drawn=drawn,
            proposers=tuple(d.hospital for d in drawn if d.staked and d.role == Role.PROPOSER),
            voters=tuple(d.hospital for d in drawn if d.staked and d.role == Role.VOTER),
            removed=tuple(d.hospital for d in drawn if not d.staked),
            receipts=tuple(receipts),
        )

    def vote(self, round: int, accept: bool) -> TxReceipt:
        """Vote as the signer (a committee member)."""
        return self._transact("vote", round, accept)

    def vote_requests(self, round: int, votes: Sequence[tuple[Key, bool]], *, gas: int | None = None) -> list[TxRequest]:
        """Each voter's own ``vote`` transaction, for :class:`~bflray.chain.bulk.BulkSender`."""
        return [TxRequest(key, self.address, self.calldata("vote", round, accept), gas) for key, accept in votes]

    def vote_batch(self, round: int, ballots: Sequence[SignedBallot]) -> TxReceipt:
        """Relay signed ballots in one transaction (the signer is the relayer)."""
        return self._transact("voteBatch", round, [b.as_tuple() for b in ballots])

    def vote_batch_request(self, relayer: Key, round: int, ballots: Sequence[SignedBallot]) -> TxRequest:
        """A ``voteBatch`` transaction from ``relayer``, for :class:`~bflray.chain.bulk.BulkSender`."""
        return TxRequest(relayer, self.address, self.calldata("voteBatch", round, [b.as_tuple() for b in ballots]))

    def settle(self, round: int, max_count: int) -> TxReceipt:
        """Settle up to ``max_count`` participants (the first call tallies)."""
        return self._transact("settle", round, max_count)

    def settle_all(self, round: int, *, per_call: int = 1000) -> SettleOutcome:
        """Tally and settle every participant, each call as many as fit under the block gas limit."""
        raws: list[Any] = []
        receipts: list[TxReceipt] = []
        size = max(1, per_call)
        while True:
            taken, receipt, raw = self._transact_sized("settle", lambda k: (round, k), size, predicted=bool(receipts))
            receipts.append(receipt)
            raws.append(raw)
            if self.decode_events([raw], "RoundSettled"):
                break
            size = self._next_size(taken, receipt.gas_used)
        (tally,) = self.decode_events(raws, "RoundTallied")
        credits: dict[str, int] = {}
        for event in self.decode_events(raws, "Credited"):
            credits[event["hospital"]] = credits.get(event["hospital"], 0) + int(event["amount"])
        return SettleOutcome(
            accepted=bool(tally["accepted"]),
            accepts=int(tally["accepts"]),
            rejects=int(tally["rejects"]),
            proposer_payout=int(tally["proposerPayout"]),
            winner_payout=int(tally["winnerPayout"]),
            to_pool=int(tally["toPool"]),
            from_pool=int(tally["fromPool"]),
            credits=credits,
            receipts=tuple(receipts),
        )

    # ------------------------------------------------------------------ views

    def token(self) -> str:
        """The stake token's address."""
        return str(self._call("token"))

    def sources(self) -> tuple[str, str]:
        """The registry's and the ledger's addresses."""
        registry, ledger = self._call("sources")
        return str(registry), str(ledger)

    def stakes(self) -> Stakes:
        """γ_p, γ_v, the proposer reward and the voting period."""
        return Stakes(*(int(v) for v in self._call("stakes")))

    def claimable_of(self, hospital: str) -> int:
        """A hospital's withdrawable balance."""
        return int(self._call("claimableOf", hospital))

    def claimables(self, hospitals: Sequence[str]) -> list[int]:
        """:meth:`claimable_of` for many hospitals in one batch request."""
        return [int(v) for v in self._call_many("claimableOf", [(h,) for h in hospitals])]

    def pool(self) -> int:
        """The proposers' reward pool."""
        return int(self._call("pool"))

    def total_staked(self) -> int:
        """Tokens staked in the round not yet settled."""
        return int(self._call("totalStaked"))

    def current_round(self) -> int:
        """The latest round opened here (0 before any)."""
        return int(self._call("currentRound"))

    def round_state(self, round: int) -> RoundState:
        """A round's state (phase ``NONE`` for a round never opened here)."""
        return RoundState.from_tuple(self._call("roundState", round))

    def participation(self, round: int, hospital: str) -> tuple[Role, Choice]:
        """A hospital's role and vote in ``round`` (only its latest round is kept)."""
        role, choice = self._call("participation", round, hospital)
        return Role(role), Choice(choice)

    def drawn_at(self, index: int) -> str:
        """The ``index``-th hospital drawn in the current round."""
        return str(self._call("drawnAt", index))
