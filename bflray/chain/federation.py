"""The whole federation on chain: deploy and wire the contracts, then drive FLock rounds.

:func:`deploy_federation` takes a :class:`~bflray.chain.client.Chain` (its ledger and deployer)
and deploys the ``Registry``, ``StakeToken``, ``StakeVoting`` and ``Reputation`` next to the
ledger, wires them (the ledger's registry, ``MODERATOR_ROLE`` for voting and reputation, the
task's plan), registers the validators and the hospitals, mints every hospital's initial
tokens and deposits them into ``StakeVoting`` in bulk, and gives ether (for gas) to the
accounts that send their own transactions.

Accounts come from the chain's mnemonic (:class:`AccountLayout`): the deployer (coordinator,
owner of every contract) is account 0, the relayer of batched votes account 1, validator ``v``
account ``10 + v`` and hospital ``h`` account ``1000 + h``, all at ``m/44'/60'/0'/0/<index>``
(:func:`bflray.chain.keys.derive_keys`: 10,000 hospitals in about 0.7 s). Hospital ``h`` is
registered at registry index ``h``.

A round (:class:`Federation`)::

    fed.open_round(r, seed)                 # ledger opening (seed, validator snapshot) + voting
    draw = fed.draw(r)                      # proposers, voters, removed (hospital ids)
    fed.vote(r, {h: accept, ...}, mode)     # "per_hospital" or "batched"
    fed.close_voting(r)                     # only if some voters abstain (anvil: jump the clock)
    fed.settle(r)                           # reward and slash, credits by hospital id
    fed.update_reputation(r, {h: perf})     # fixed point or float in [0, 1]
    fed.record_round(r, root, model_hash)   # the coordinator's record
    fed.attest(r, root, model_hash)         # every validator's own transaction; then fed.is_final(r)
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal, TypeVar

from bflray.chain.binding import ContractBinding
from bflray.chain.bulk import BulkResult, BulkSender, TxRequest, fund_accounts, gas_limit
from bflray.chain.flock_reference import DrawResult, Status, derive_draw
from bflray.chain.keys import Key, derive_keys
from bflray.chain.ledger import FederationLedger
from bflray.chain.meter import ChainMeter
from bflray.chain.params import Plan, ReputationParams, Stakes, fixed
from bflray.chain.registry import Registry
from bflray.chain.reputation import Reputation
from bflray.chain.token import StakeToken
from bflray.chain.transactions import TxReceipt
from bflray.chain.voting import DrawOutcome, Phase, SignedBallot, StakeVoting
from bflray.errors import ChainError

if TYPE_CHECKING:
    from bflray.chain.client import Chain

__all__ = [
    "VOTE_MODES",
    "AccountLayout",
    "Federation",
    "RoundDraw",
    "RoundSettlement",
    "VoteMode",
    "VoteResult",
    "deploy_federation",
]

_B = TypeVar("_B", bound=ContractBinding)
VoteMode = Literal["per_hospital", "batched"]
VOTE_MODES: tuple[VoteMode, ...] = ("per_hospital", "batched")
_GAS_TARGET = 0.9
_ETH = 10**18


@dataclass(frozen=True)
class AccountLayout:
    """Which mnemonic account index plays which part (see the module docstring)."""

    relayer: int = 1
    first_validator: int = 10
    first_hospital: int = 1000

    def hospital(self, h: int) -> int:
        """The account index of hospital ``h``."""
        return self.first_hospital + h

    def validator(self, v: int) -> int:
        """The account index of validator ``v``."""
        if self.first_validator + v >= self.first_hospital:
            raise ValueError(f"validator {v} would overlap the hospitals' accounts")
        return self.first_validator + v


@dataclass(frozen=True)
class RoundDraw:
    """A round's draw by hospital id (registry index).

    Attributes
    ----------
    proposers, voters:
        Staked proposers and voters, in draw order.
    removed:
        Drawn hospitals that could not stake and were removed for good.
    outcome:
        The draw's events and receipts, by address.
    """

    round: int
    proposers: tuple[int, ...]
    voters: tuple[int, ...]
    removed: tuple[int, ...]
    outcome: DrawOutcome


@dataclass(frozen=True)
class VoteResult:
    """A round's votes as sent.

    Attributes
    ----------
    mode:
        ``"per_hospital"`` (one transaction per voter) or ``"batched"`` (relayed ballots).
    receipts:
        The transactions' costs.
    seconds:
        Wall time from the first signature to the last receipt.
    blocks:
        Blocks the votes were mined in.
    """

    mode: VoteMode
    receipts: tuple[TxReceipt, ...]
    seconds: float
    blocks: int

    @property
    def transactions(self) -> int:
        """How many transactions carried the votes."""
        return len(self.receipts)

    @property
    def gas(self) -> int:
        """Gas of all the votes."""
        return sum(r.gas_used for r in self.receipts)


@dataclass(frozen=True)
class RoundSettlement:
    """A settled round by hospital id (see :class:`bflray.chain.flock_reference.Settlement`)."""

    accepted: bool
    accepts: int
    rejects: int
    proposer_payout: int
    winner_payout: int
    to_pool: int
    from_pool: int
    credits: dict[int, int]
    receipts: tuple[TxReceipt, ...]


@dataclass
class Federation:
    """The deployed federation and its accounts. Make one with :func:`deploy_federation`.

    Attributes
    ----------
    chain:
        The chain (its signer is the coordinator: owner of every contract, relayer of nothing).
    ledger, registry, token, voting, reputation:
        The bindings, sending as the coordinator.
    task_id, plan, stakes:
        The task whose plan the rounds follow, and the stakes.
    hospitals:
        Hospital addresses by id.
    validators:
        The validators' keys.
    relayer:
        The key that relays batched ballots.
    sender:
        Sends bursts of many accounts' transactions.
    meter:
        Records every transaction's cost, if set (see :meth:`attach_meter`).
    setup_seconds:
        Wall time of each deployment step.
    """

    chain: Chain
    ledger: FederationLedger
    registry: Registry
    token: StakeToken
    voting: StakeVoting
    reputation: Reputation
    task_id: int
    plan: Plan
    stakes: Stakes
    hospitals: tuple[str, ...]
    validators: tuple[Key, ...]
    relayer: Key
    sender: BulkSender
    layout: AccountLayout
    meter: ChainMeter | None = None
    setup_seconds: dict[str, float] = field(default_factory=dict)
    eth_per_account: int = _ETH
    _ids: dict[str, int] = field(default_factory=dict, repr=False)
    _funded: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self._ids = {address: h for h, address in enumerate(self.hospitals)}

    # ------------------------------------------------------------------ accounts

    @property
    def addresses(self) -> dict[str, str]:
        """Every contract's checksum address, by contract name."""
        return {
            FederationLedger.contract_name: self.ledger.address,
            Registry.contract_name: self.registry.address,
            StakeToken.contract_name: self.token.address,
            StakeVoting.contract_name: self.voting.address,
            Reputation.contract_name: self.reputation.address,
        }

    @property
    def bindings(self) -> tuple[FederationLedger, Registry, StakeToken, StakeVoting, Reputation]:
        """The five contract bindings."""
        return (self.ledger, self.registry, self.token, self.voting, self.reputation)

    def hospital_keys(self, ids: Sequence[int]) -> list[Key]:
        """The keys of hospitals ``ids`` (derived once, then cached)."""
        mnemonic = self.chain.config.mnemonic
        return derive_keys(mnemonic, [self.layout.hospital(h) for h in ids])

    def id_of(self, address: str) -> int:
        """The hospital id of an address (``KeyError`` for a non-hospital)."""
        return self._ids[address]

    def ids_of(self, addresses: Sequence[str]) -> tuple[int, ...]:
        """The hospital ids of addresses."""
        return tuple(self._ids[a] for a in addresses)

    def fund(self, addresses: Sequence[str]) -> None:
        """Give ether for gas to accounts not funded yet (one batch ``anvil_setBalance``)."""
        todo = [a for a in dict.fromkeys(addresses) if a not in self._funded]
        fund_accounts(self.sender.rpc, todo, self.eth_per_account)
        self._funded.update(todo)

    def attach_meter(self, meter: ChainMeter | None) -> None:
        """Record every later transaction of this federation in ``meter`` (``None`` detaches)."""
        self.meter = meter
        for binding in self.bindings:
            binding.meter = meter

    @contextmanager
    def _metered(self, contract: str, function: str) -> Iterator[list[BulkResult]]:
        results: list[BulkResult] = []
        yield results
        if self.meter is not None:
            for result in results:
                self.meter.record_burst(contract, function, result)

    # ------------------------------------------------------------------ round

    def open_round(self, round: int, seed: bytes) -> list[TxReceipt]:
        """Open ``round`` on the ledger (seed, validator snapshot) and in the voting contract.

        Tags the meter's later records with ``round``.
        """
        if self.meter is not None:
            self.meter.begin_round(round)
        return [self.ledger.open_round(round, self.task_id, seed), self.voting.open_round(round)]

    def open_ledger_round(self, round: int, seed: bytes) -> TxReceipt:
        """Open ``round`` on the ledger alone (seed, validator snapshot): pipelines without stake voting."""
        if self.meter is not None:
            self.meter.begin_round(round)
        return self.ledger.open_round(round, self.task_id, seed)

    def expected_draw(self, round: int) -> DrawResult:
        """Re-derive ``round``'s draw off-chain (before :meth:`draw`), from the chain's seed, registry and balances.

        Indices in the result are hospital ids. Reads every registered hospital (batched).
        """
        state = self.voting.round_state(round)
        if state.phase != Phase.DRAWING or state.steps != 0:
            raise ChainError(f"round {round} must be opened and not drawn yet (phase {state.phase.name})")
        _, seed = self.ledger.round_opening(round)
        listed = self.registry.hospitals(range(state.n))
        addresses = [address for address, _ in listed]
        balances = self.voting.claimables(addresses)
        result = derive_draw(
            seed,
            state.n,
            cohort=state.proposers_wanted,
            committee=state.voters_wanted,
            eligible=[eligible for _, eligible in listed],
            balance=balances,
            proposer_stake=state.proposer_stake,
            voter_stake=state.voter_stake,
        )
        to_id = [self._ids.get(a, -1) for a in addresses]
        return DrawResult(
            drawn=tuple(to_id[i] for i in result.drawn),
            proposers=tuple(to_id[i] for i in result.proposers),
            voters=tuple(to_id[i] for i in result.voters),
            removed=tuple(to_id[i] for i in result.removed),
            steps=result.steps,
        )

    def draw(self, round: int, *, steps_per_call: int = 256) -> RoundDraw:
        """Draw ``round`` completely (chunks under the block gas limit)."""
        outcome = self.voting.draw_all(round, steps_per_call=steps_per_call)
        return RoundDraw(
            round,
            self.ids_of(outcome.proposers),
            self.ids_of(outcome.voters),
            self.ids_of(outcome.removed),
            outcome,
        )

    def sign_ballots(self, round: int, votes: Mapping[int, bool]) -> list[SignedBallot]:
        """Each voting hospital's EIP-712 ballot, signed with its own key."""
        ids = list(votes)
        keys = self.hospital_keys(ids)
        return [self.voting.sign_ballot(key, round, bool(votes[h])) for key, h in zip(keys, ids, strict=True)]

    def vote(self, round: int, votes: Mapping[int, bool], mode: VoteMode = "batched") -> VoteResult:
        """Cast ``votes`` (hospital id → accept) in ``round``.

        ``per_hospital``: every voter signs and sends its own ``vote`` transaction; all are sent
        at once (one batch request) and mined together. ``batched``: every voter signs an EIP-712
        ballot and the relayer sends them in ``voteBatch`` transactions under the block gas limit.

        Raises
        ------
        ContractRevertError
            E.g. ``NotCommitteeMember``, ``AlreadyVoted``, ``ForgedBallot``; nothing is sent then.
        """
        if mode == "per_hospital":
            ids = list(votes)
            keys = self.hospital_keys(ids)
            self.fund([k.address for k in keys])
            requests = self.voting.vote_requests(round, [(k, bool(votes[h])) for k, h in zip(keys, ids, strict=True)])
            with self._metered(StakeVoting.contract_name, "vote") as results:
                results.append(self.sender.send(requests, self.voting.decoder))
            return VoteResult(mode, tuple(results[0].receipts), results[0].seconds, results[0].blocks)
        if mode == "batched":
            start = time.perf_counter()
            ballots = self.sign_ballots(round, votes)
            result = self.relay_ballots(round, ballots)
            return VoteResult(mode, tuple(result.receipts), time.perf_counter() - start, result.blocks)
        raise ValueError(f"vote mode must be one of {VOTE_MODES}, got {mode!r}")

    def relay_ballots(self, round: int, ballots: Sequence[SignedBallot]) -> BulkResult:
        """Send signed ballots as the relayer, in ``voteBatch`` chunks under the block gas limit.

        Raises
        ------
        ContractRevertError
            ``ForgedBallot(voter, signer)`` for a ballot not signed by its voter, and the
            other vote errors; the whole relay is refused before anything is sent.
        """
        if not ballots:
            return BulkResult([], [], 0.0, 0)
        size, used = self._ballot_chunk(round, ballots)
        requests = [
            replace(self.voting.vote_batch_request(self.relayer, round, ballots[i : i + size]), gas=gas_limit(used))
            for i in range(0, len(ballots), size)
        ]
        with self._metered(StakeVoting.contract_name, "voteBatch") as results:
            results.append(self.sender.send(requests, self.voting.decoder))
        return results[0]

    def _ballot_chunk(self, round: int, ballots: Sequence[SignedBallot]) -> tuple[int, int]:
        """The most ballots per ``voteBatch`` under the gas target, and the gas of such a chunk.

        The first chunk is estimated (a forged or otherwise bad ballot in it reverts here, before
        anything is sent); the others get its gas limit (every ballot costs about the same). A bad
        ballot in a later chunk reverts once mined, and is decoded then.
        """
        limit = int(self.chain.web3.eth.get_block("latest")["gasLimit"])
        size = len(ballots)
        while True:
            request = self.voting.vote_batch_request(self.relayer, round, ballots[:size])
            try:
                (estimate,) = self.sender.estimate([request], self.voting.decoder)
            except ChainError as exc:
                if type(exc) is not ChainError or size == 1:  # a decoded revert, or nothing left to split
                    raise
                size //= 2
                continue
            if gas_limit(estimate) <= limit * _GAS_TARGET or size == 1:
                return size, estimate
            size = max(1, int(size * limit * _GAS_TARGET / gas_limit(estimate) * 0.95))

    def close_voting(self, round: int) -> None:
        """Move the chain's clock past ``round``'s voting window (anvil), so it can be settled with abstainers."""
        state = self.voting.round_state(round)
        now = int(self.chain.web3.eth.get_block("latest")["timestamp"])
        if now <= state.vote_end:
            rpc = self.sender.rpc
            rpc.call("evm_setNextBlockTimestamp", [state.vote_end + 1])
            rpc.call("evm_mine")

    def settle(self, round: int, *, per_call: int = 1000) -> RoundSettlement:
        """Tally and settle ``round`` (chunks); credits by hospital id."""
        outcome = self.voting.settle_all(round, per_call=per_call)
        return RoundSettlement(
            accepted=outcome.accepted,
            accepts=outcome.accepts,
            rejects=outcome.rejects,
            proposer_payout=outcome.proposer_payout,
            winner_payout=outcome.winner_payout,
            to_pool=outcome.to_pool,
            from_pool=outcome.from_pool,
            credits={self._ids[a]: amount for a, amount in outcome.credits.items()},
            receipts=outcome.receipts,
        )

    def update_reputation(self, round: int, performances: Mapping[int, float | int]) -> list[TxReceipt]:
        """Record the round's participants' validation performance (hospital id → value in [0, 1]).

        Floats are converted to fixed point; ints are taken as fixed point already.
        """
        ids = list(performances)
        values = [p if isinstance(p, int) else fixed(p) for p in (performances[h] for h in ids)]
        return self.reputation.update(round, [self.hospitals[h] for h in ids], values)

    def reward_contributions(self, round: int, amounts: Mapping[int, int], *, per_call: int = 500) -> list[TxReceipt]:
        """Pay each hospital id its amount from the pool for ``round``, ``per_call`` per transaction."""
        ids = [h for h in amounts if amounts[h] > 0]
        return [
            self.voting.reward_contributions(
                round, [self.hospitals[h] for h in ids[i : i + per_call]], [amounts[h] for h in ids[i : i + per_call]]
            )
            for i in range(0, len(ids), per_call)
        ]

    def record_round(self, round: int, payload_root: bytes, model_hash: bytes) -> TxReceipt:
        """The coordinator's record of the round's payload root and model hash."""
        return self.ledger.record_round(round, payload_root, model_hash)

    def attest(
        self,
        round: int,
        payload_root: bytes,
        model_hash: bytes,
        validators: Sequence[int] | None = None,
    ) -> BulkResult:
        """Each validator in ``validators`` (default: all) attests the pair with its own transaction (one burst)."""
        chosen = range(len(self.validators)) if validators is None else validators
        requests = [self.ledger.attest_request(self.validators[v], round, payload_root, model_hash) for v in chosen]
        with self._metered(FederationLedger.contract_name, "attest") as results:
            results.append(self.sender.send(requests, self.ledger.decoder))
        return results[0]

    def attest_each(self, round: int, verdicts: Mapping[int, tuple[bytes, bytes]]) -> BulkResult:
        """Each validator ``v`` attests its own ``(payload_root, model_hash)`` (one burst, in the mapping's order).

        For Byzantine validators that attest something else than the honest ones.
        """
        requests = [self.ledger.attest_request(self.validators[v], round, *verdicts[v]) for v in verdicts]
        with self._metered(FederationLedger.contract_name, "attest") as results:
            results.append(self.sender.send(requests, self.ledger.decoder))
        return results[0]

    def is_final(self, round: int) -> bool:
        """Whether a validator quorum attested the same pair for ``round``."""
        return self.ledger.is_final(round)

    def withdraw(self, amounts: Mapping[int, int]) -> BulkResult:
        """Each hospital withdraws its amount with its own transaction (one burst)."""
        ids = list(amounts)
        keys = self.hospital_keys(ids)
        self.fund([k.address for k in keys])
        requests = [
            TxRequest(k, self.voting.address, self.voting.calldata("withdraw", amounts[h]))
            for k, h in zip(keys, ids, strict=True)
        ]
        with self._metered(StakeVoting.contract_name, "withdraw") as results:
            results.append(self.sender.send(requests, self.voting.decoder))
        return results[0]

    # ------------------------------------------------------------------ state

    def claimable(self, ids: Sequence[int] | None = None) -> list[int]:
        """Withdrawable balances of hospitals ``ids`` (default: all), batched."""
        chosen = range(len(self.hospitals)) if ids is None else ids
        return self.voting.claimables([self.hospitals[h] for h in chosen])

    def reputations(self, ids: Sequence[int] | None = None) -> list[int]:
        """Reputation (fixed point) of hospitals ``ids`` (default: all), batched."""
        chosen = range(len(self.hospitals)) if ids is None else ids
        return self.reputation.reputations([self.hospitals[h] for h in chosen])

    def weights(self, ids: Sequence[int] | None = None) -> list[int]:
        """Aggregation weight (fixed point) of hospitals ``ids`` (default: all), batched."""
        chosen = range(len(self.hospitals)) if ids is None else ids
        return self.reputation.weights([self.hospitals[h] for h in chosen])

    def status(self, ids: Sequence[int] | None = None) -> list[Status]:
        """Registry status of hospitals ``ids`` (default: all), batched."""
        chosen = range(len(self.hospitals)) if ids is None else ids
        return self.registry.statuses([self.hospitals[h] for h in chosen])


def deploy_federation(
    chain: Chain,
    *,
    hospitals: int,
    validators: int,
    plan: Plan,
    stakes: Stakes,
    reputation_params: ReputationParams,
    initial_tokens: int | Sequence[int],
    pool_tokens: int = 0,
    task_id: int = 1,
    layout: AccountLayout | None = None,
    meter: ChainMeter | None = None,
    fund_hospitals: bool = False,
    eth_per_account: int = _ETH,
) -> Federation:
    """Deploy and wire the federation next to ``chain``'s ledger (see the module docstring).

    Parameters
    ----------
    chain:
        An open chain; its deployer becomes the owner and admin of every contract.
    hospitals:
        How many hospitals to register (ids ``0..hospitals-1``).
    validators:
        How many validators to register (at least 1).
    plan:
        The task's FL plan (cohort and committee sizes per round).
    stakes:
        γ_p, γ_v, the proposer reward and the voting period.
    reputation_params:
        The reputation rule.
    initial_tokens:
        Each hospital's initial balance in ``StakeVoting`` (one value for all, or one per hospital).
    pool_tokens:
        Initial tokens of the proposers' reward pool.
    task_id:
        The task the plan is defined for.
    layout:
        Account indices (default :class:`AccountLayout`).
    meter:
        Records the setup's transactions (round ``-1``) and, attached, every later one.
    fund_hospitals:
        Give every hospital ether now; otherwise a hospital gets it before its first own transaction.
    eth_per_account:
        Ether (wei) given to each account that sends its own transactions.

    Raises
    ------
    ChainError
        If a step fails (decoded reverts as ``ContractRevertError``).
    """
    if hospitals < 0 or validators < 1:
        raise ValueError(f"need hospitals >= 0 and validators >= 1, got {hospitals} and {validators}")
    layout = layout or AccountLayout()
    tokens = [initial_tokens] * hospitals if isinstance(initial_tokens, int) else [int(t) for t in initial_tokens]
    if len(tokens) != hospitals:
        raise ValueError(f"initial_tokens has {len(tokens)} values for {hospitals} hospitals")
    signer = chain.signer
    mnemonic = chain.config.mnemonic
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = timings.get(name, 0.0) + now - clock
        clock = now

    hospital_keys = derive_keys(mnemonic, [layout.hospital(h) for h in range(hospitals)])
    validator_keys = derive_keys(mnemonic, [layout.validator(v) for v in range(validators)])
    (relayer,) = derive_keys(mnemonic, [layout.relayer])
    lap("derive_accounts")

    ledger = chain.ledger
    deployed: list[tuple[str, TxReceipt, float]] = []

    def deploy(cls: type[_B], *args: object) -> _B:
        start = time.perf_counter()
        binding, receipt = cls.deploy(signer, *args)
        deployed.append((cls.contract_name, receipt, time.perf_counter() - start))
        return binding

    registry = deploy(Registry, signer.address)
    token = deploy(StakeToken, signer.address)
    voting = deploy(StakeVoting, signer.address, token.address, registry.address, ledger.address, stakes.as_tuple())
    reputation = deploy(Reputation, signer.address, ledger.address, registry.address, reputation_params.as_tuple())
    if meter is not None:
        for name, receipt, seconds in deployed:
            meter.record(name, "constructor", receipt, seconds)
    from bflray.chain.binding import rpc_for

    rpc = rpc_for(chain.url)
    federation = Federation(
        chain=chain,
        ledger=ledger,
        registry=registry,
        token=token,
        voting=voting,
        reputation=reputation,
        task_id=task_id,
        plan=plan,
        stakes=stakes,
        hospitals=tuple(k.address for k in hospital_keys),
        validators=tuple(validator_keys),
        relayer=relayer,
        sender=BulkSender(rpc, chain.web3.eth.chain_id, receipt_timeout_s=max(chain.config.timeout_s, 120.0)),
        layout=layout,
        eth_per_account=eth_per_account,
    )
    federation.attach_meter(meter)
    names = [b.contract_name for b in federation.bindings]
    for binding in federation.bindings:
        binding.decode_errors_of(*(n for n in names if n != binding.contract_name))
    lap("deploy")

    ledger.set_registry(registry.address)
    registry.grant_role("MODERATOR_ROLE", voting.address)
    registry.grant_role("MODERATOR_ROLE", reputation.address)
    ledger.define_plan(task_id, plan)
    lap("wire")

    registry.register_validators([k.address for k in validator_keys])
    registry.register_hospitals(list(federation.hospitals))
    lap("register")

    total = sum(tokens) + pool_tokens
    if total > 0:
        token.mint(signer.address, total)
        token.approve(voting.address, total)
    funded = [(a, t) for a, t in zip(federation.hospitals, tokens, strict=True) if t > 0]
    if funded:
        voting.deposit_for([a for a, _ in funded], [t for _, t in funded])
    if pool_tokens > 0:
        voting.fund_pool(pool_tokens)
    lap("tokens")

    # Slots a round would create on first use are written now, so per-round storage growth does not depend on N.
    voting.reserve_slots(list(federation.hospitals), drawn_slots=plan.cohort_size + plan.committee_size)
    reputation.reserve_records(list(federation.hospitals))
    lap("reserve_slots")

    federation.fund([relayer.address, *(k.address for k in validator_keys)])
    if fund_hospitals:
        federation.fund(list(federation.hospitals))
    lap("fund_eth")
    federation.setup_seconds = timings
    return federation
