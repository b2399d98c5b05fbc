"""A pure-Python reference of the FLock contracts: the draw, reward and slash, reputation.

No web3 and no chain: plain integers, mirroring ``contracts/StakeVoting.sol`` and
``contracts/Reputation.sol`` step by step, so the chain's balances can be checked exactly
against it and anyone can re-derive a round's proposers and voters from its seed.

**Draw** (:func:`draw_picks`, :func:`derive_draw`). ``n`` is the number of hospitals ever
registered when the round opens. Step ``i = 0, 1, ...`` of a partial Fisher-Yates shuffle of
``0..n-1`` takes ``j = i + uint256(keccak256(abi.encode(seed, i))) % (n - i)``, picks the value at
position ``j`` of the virtual permutation (initially the identity) and moves the value at
position ``i`` to ``j``. A picked index that is not eligible (suspended or removed) is skipped;
the others become proposers while fewer than ``cohort`` were drawn, then voters. A drawn
hospital whose balance is below its stake is removed for good and not replaced. The draw
stops once ``cohort + committee`` were drawn or after ``n`` steps.

**Settlement** (:meth:`FlockReference.settle`), with ``a`` accepts, ``r`` rejects and ``s``
abstaining staked voters: accepted iff ``a > r`` (a tie rejects, eq. 3). Accepted: staked
proposers get γ_p back plus ``min(proposer_reward, pool // staked_proposers)``. Rejected:
their stakes go to the pool. The majority's voters get γ_v back plus an even share of
``(losers + s)·γ_v``; the remainder goes to the pool; on a tie every voter who voted gets γ_v
back and the abstainers' stakes go to the pool.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from eth_hash.auto import keccak

from bflray.chain.params import ONE, ReputationParams, Stakes

__all__ = [
    "Choice",
    "DrawResult",
    "FlockReference",
    "RepRecord",
    "ReputationReference",
    "Role",
    "Settlement",
    "Status",
    "draw_picks",
    "draw_seed",
    "derive_draw",
]

_UINT256 = 1 << 256


class Role(IntEnum):
    """``StakeVoting.Role``."""

    NONE = 0
    PROPOSER = 1
    VOTER = 2
    REMOVED = 3


class Choice(IntEnum):
    """``StakeVoting.Choice``."""

    NONE = 0
    ACCEPT = 1
    REJECT = 2


class Status(IntEnum):
    """``Registry.Status``."""

    ACTIVE = 0
    SUSPENDED = 1
    REMOVED = 2


def draw_seed(run_seed: int, round: int) -> bytes:
    """A round's draw seed from the run's seed: ``keccak256(abi.encode("bflray draw", run_seed, round))``.

    Deterministic, never a block hash (anvil's depend on the wall clock), and non-zero with
    overwhelming probability (the ledger refuses a zero seed).
    """
    if not 0 <= run_seed < _UINT256 or not 0 <= round < _UINT256:
        raise ValueError(f"run_seed and round must be uint256, got {run_seed}, {round}")
    tag = keccak(b"bflray draw")
    return bytes(keccak(tag + run_seed.to_bytes(32, "big") + round.to_bytes(32, "big")))


def draw_picks(seed: bytes, n: int) -> Iterator[int]:
    """The indices the draw's steps pick, in order: a lazy partial Fisher-Yates shuffle of ``0..n-1``.

    Each step costs one keccak and O(1) memory (the permutation is kept sparsely, as on chain).
    """
    if len(seed) != 32:
        raise ValueError(f"seed must be 32 bytes, got {len(seed)}")
    perm: dict[int, int] = {}
    for i in range(n):
        j = i + int.from_bytes(keccak(seed + i.to_bytes(32, "big")), "big") % (n - i)
        picked = perm.get(j, j)
        if j != i:
            perm[j] = perm.get(i, i)
        yield picked


@dataclass(frozen=True)
class DrawResult:
    """Who a round drew, by registry index (= hospital id when registered in id order).

    Attributes
    ----------
    drawn:
        Every hospital drawn, in draw order (proposers first), staked or not.
    proposers, voters:
        The drawn hospitals that staked, by role, in draw order.
    removed:
        Drawn hospitals that could not stake (removed from the registry), in draw order.
    steps:
        Fisher-Yates steps taken (picks, ineligible ones included).
    """

    drawn: tuple[int, ...]
    proposers: tuple[int, ...]
    voters: tuple[int, ...]
    removed: tuple[int, ...]
    steps: int


def derive_draw(
    seed: bytes,
    n: int,
    *,
    cohort: int,
    committee: int,
    eligible: Callable[[int], bool] | Sequence[bool],
    balance: Callable[[int], int] | Sequence[int],
    proposer_stake: int,
    voter_stake: int,
) -> DrawResult:
    """Re-derive a round's draw exactly as ``StakeVoting.draw`` takes it.

    Parameters
    ----------
    seed:
        The round's seed (``FederationLedger.roundOpening``).
    n:
        Hospitals registered when the round opened (``Registry.hospitalCount``).
    cohort, committee:
        The plan's proposers and voters per round.
    eligible:
        Whether registry index ``i`` was eligible (active hospital) when the round opened.
    balance:
        Index ``i``'s withdrawable balance (``StakeVoting.claimableOf``) when the round opened.
    proposer_stake, voter_stake:
        γ_p and γ_v.
    """
    is_eligible = eligible if callable(eligible) else eligible.__getitem__
    balance_of = balance if callable(balance) else balance.__getitem__
    wanted = cohort + committee
    drawn: list[int] = []
    proposers: list[int] = []
    voters: list[int] = []
    removed: list[int] = []
    steps = 0
    if wanted > 0:
        for picked in draw_picks(seed, n):
            steps += 1
            if not is_eligible(picked):
                continue
            as_proposer = len(drawn) < cohort
            drawn.append(picked)
            if balance_of(picked) >= (proposer_stake if as_proposer else voter_stake):
                (proposers if as_proposer else voters).append(picked)
            else:
                removed.append(picked)
            if len(drawn) >= wanted:
                break
    return DrawResult(tuple(drawn), tuple(proposers), tuple(voters), tuple(removed), steps)


@dataclass(frozen=True)
class Settlement:
    """The outcome of a settled round.

    Attributes
    ----------
    accepted:
        Whether the aggregate was accepted (``accepts > rejects``).
    accepts, rejects:
        The votes counted.
    proposer_payout:
        What each staked proposer got back (γ_p plus reward), 0 when rejected.
    winner_payout:
        What each majority voter got back (γ_v plus share); on a tie γ_v, paid to every voter who voted.
    to_pool, from_pool:
        Tokens moved into the pool (slashes, forfeits, remainders) and reserved from it (rewards).
    credits:
        Amount credited to each participant's balance, by hospital (only non-zero credits).
    """

    accepted: bool
    accepts: int
    rejects: int
    proposer_payout: int
    winner_payout: int
    to_pool: int
    from_pool: int
    credits: dict[int, int]


@dataclass
class _Round:
    draw: DrawResult
    proposer_stake: int
    voter_stake: int
    votes: dict[int, bool] = field(default_factory=dict)


class FlockReference:
    """The token state of ``StakeVoting`` (and the registry's standing), in plain integers.

    Hospitals are registry indices ``0..hospitals-1``. Drive it like the chain:
    :meth:`deposit`/:meth:`fund_pool`, then per round :meth:`draw`, :meth:`vote`, :meth:`settle`.

    Attributes
    ----------
    claimable:
        Each hospital's withdrawable balance.
    status:
        Each hospital's registry status.
    pool:
        The proposers' reward pool.
    total_staked:
        Tokens staked in the round not yet settled.
    """

    def __init__(self, hospitals: int, stakes: Stakes, *, cohort: int, committee: int) -> None:
        self.stakes = stakes
        self.cohort = cohort
        self.committee = committee
        self.claimable = [0] * hospitals
        self.status = [Status.ACTIVE] * hospitals
        self.pool = 0
        self.total_staked = 0
        self._round: _Round | None = None

    @property
    def hospitals(self) -> int:
        """How many hospitals are registered."""
        return len(self.claimable)

    def register(self, count: int) -> None:
        """Register ``count`` more hospitals (appended, active, no balance)."""
        self.claimable += [0] * count
        self.status += [Status.ACTIVE] * count

    def deposit(self, hospital: int, amount: int) -> None:
        """Credit ``amount`` to a hospital's balance (``deposit``/``depositFor``)."""
        self.claimable[hospital] += amount

    def withdraw(self, hospital: int, amount: int) -> None:
        """Take ``amount`` from a hospital's balance (``withdraw``)."""
        if amount > self.claimable[hospital]:
            raise ValueError(f"hospital {hospital} has {self.claimable[hospital]}, cannot withdraw {amount}")
        self.claimable[hospital] -= amount

    def fund_pool(self, amount: int) -> None:
        """Add ``amount`` to the reward pool (``fundPool``)."""
        self.pool += amount

    def suspend(self, hospital: int) -> None:
        """Suspend an active hospital (``Registry.suspend``)."""
        self.status[hospital] = Status.SUSPENDED

    def eligible(self, hospital: int) -> bool:
        """Whether a hospital can be drawn."""
        return self.status[hospital] == Status.ACTIVE

    def draw(self, seed: bytes) -> DrawResult:
        """Open a round with ``seed`` and draw it: stakes are taken, the hospitals that cannot stake removed."""
        if self._round is not None:
            raise RuntimeError("the previous round is not settled")
        stakes = self.stakes
        result = derive_draw(
            seed,
            self.hospitals,
            cohort=self.cohort,
            committee=self.committee,
            eligible=self.eligible,
            balance=self.claimable,
            proposer_stake=stakes.proposer_stake,
            voter_stake=stakes.voter_stake,
        )
        for hospital in result.proposers:
            self.claimable[hospital] -= stakes.proposer_stake
            self.total_staked += stakes.proposer_stake
        for hospital in result.voters:
            self.claimable[hospital] -= stakes.voter_stake
            self.total_staked += stakes.voter_stake
        for hospital in result.removed:
            self.status[hospital] = Status.REMOVED
        self._round = _Round(result, stakes.proposer_stake, stakes.voter_stake)
        return result

    def vote(self, hospital: int, accept: bool) -> None:
        """Record a staked voter's vote (once)."""
        state = self._require_round()
        if hospital not in state.draw.voters:
            raise ValueError(f"hospital {hospital} is not a staked voter of this round")
        if hospital in state.votes:
            raise ValueError(f"hospital {hospital} voted before")
        state.votes[hospital] = accept

    def settle(self, votes: Mapping[int, bool] | None = None) -> Settlement:
        """Record ``votes`` (if given), count them and credit every participant, as ``settle`` does."""
        state = self._require_round()
        for hospital, accept in (votes or {}).items():
            self.vote(hospital, accept)
        a = sum(1 for accept in state.votes.values() if accept)
        r = len(state.votes) - a
        voters_staked = len(state.draw.voters)
        if a > r:
            winners, losers, winner = a, r, Choice.ACCEPT
        elif r > a:
            winners, losers, winner = r, a, Choice.REJECT
        else:
            winners, losers, winner = 0, 0, Choice.NONE
        forfeit = (losers + voters_staked - a - r) * state.voter_stake
        share = forfeit // winners if winners else 0
        to_pool = forfeit - share * winners
        accepted = winner == Choice.ACCEPT
        staked_proposers = len(state.draw.proposers)
        from_pool = 0
        proposer_payout = 0
        if accepted:
            reward = min(self.stakes.proposer_reward, self.pool // staked_proposers) if staked_proposers else 0
            from_pool = reward * staked_proposers
            proposer_payout = state.proposer_stake + reward
        else:
            to_pool += staked_proposers * state.proposer_stake
        self.pool = self.pool - from_pool + to_pool
        self.total_staked = self.total_staked + from_pool - to_pool
        winner_payout = state.voter_stake + share
        credits: dict[int, int] = {}
        for hospital in state.draw.proposers:
            if proposer_payout:
                credits[hospital] = proposer_payout
        for hospital in state.draw.voters:
            if hospital not in state.votes:
                continue
            choice = Choice.ACCEPT if state.votes[hospital] else Choice.REJECT
            if winner == Choice.NONE:
                credits[hospital] = state.voter_stake
            elif choice == winner:
                credits[hospital] = winner_payout
        for hospital, amount in credits.items():
            self.claimable[hospital] += amount
            self.total_staked -= amount
        self._round = None
        return Settlement(accepted, a, r, proposer_payout, winner_payout, to_pool, from_pool, credits)

    def _require_round(self) -> _Round:
        if self._round is None:
            raise RuntimeError("no round is open")
        return self._round


@dataclass(frozen=True)
class RepRecord:
    """``Reputation.Record``: fixed point except ``strikes``; ``last_round`` is the round number."""

    reputation: int
    weight: int
    last_performance: int
    last_round: int
    strikes: int


class ReputationReference:
    """``Reputation.update`` in plain integers, for the hospitals it has seen.

    Attributes
    ----------
    records:
        Each updated hospital's record.
    """

    def __init__(self, params: ReputationParams) -> None:
        self.params = params
        self.records: dict[int, RepRecord] = {}

    def reputation_of(self, hospital: int) -> int:
        """Reputation, the initial one before a first update."""
        rec = self.records.get(hospital)
        return self.params.initial_reputation if rec is None else rec.reputation

    def weight_of(self, hospital: int) -> int:
        """Aggregation weight, ONE before a first update."""
        rec = self.records.get(hospital)
        return ONE if rec is None else rec.weight

    def update(self, round: int, hospital: int, performance: int, *, eligible: bool = True) -> bool:
        """Update one hospital for ``round``; True when it is to be suspended (strikes reached, and eligible)."""
        p = self.params
        if not 0 <= performance <= ONE:
            raise ValueError(f"performance {performance} outside [0, ONE]")
        rec = self.records.get(hospital)
        if rec is not None and rec.last_round == round:
            raise ValueError(f"hospital {hospital} was updated for round {round} before")
        rep = rec.reputation if rec else p.initial_reputation
        weight = rec.weight if rec else ONE
        strikes = rec.strikes if rec else 0
        rep = (p.alpha * rep + (ONE - p.alpha) * performance) // ONE
        degraded = rec is not None and performance * ONE < (ONE - p.tolerance) * rec.last_performance
        suspend = False
        if degraded:
            rep = rep * (ONE - p.reputation_cut) // ONE
            weight = weight * (ONE - p.weight_cut) // ONE
            strikes += 1
            if strikes >= p.max_strikes:
                strikes = 0
                suspend = eligible
        else:
            weight = (p.alpha * weight + (ONE - p.alpha) * ONE) // ONE
        self.records[hospital] = RepRecord(rep, weight, performance, round, strikes)
        return suspend
