"""The pure-Python FLock reference: the draw's shape, the settlement rules, token conservation."""

from __future__ import annotations

import random

import pytest

from bflray.chain.flock_reference import (
    FlockReference,
    ReputationReference,
    Status,
    derive_draw,
    draw_picks,
    draw_seed,
)
from bflray.chain.params import ONE, ReputationParams, Stakes, fixed

STAKES = Stakes(proposer_stake=8, voter_stake=4, proposer_reward=2, voting_period=600)


@pytest.mark.parametrize("n", [1, 2, 17, 500])
def test_draw_picks_are_a_permutation(n: int) -> None:
    picks = list(draw_picks(draw_seed(3, n), n))

    assert sorted(picks) == list(range(n))


def test_draw_seed_depends_on_run_and_round() -> None:
    seeds = {draw_seed(run, r) for run in range(3) for r in range(5)}

    assert len(seeds) == 15 and all(len(s) == 32 and s != bytes(32) for s in seeds)


def test_draw_skips_ineligible_and_removes_who_cannot_stake() -> None:
    seed = draw_seed(1, 1)
    order = list(draw_picks(seed, 10))
    eligible = [i != order[0] for i in range(10)]
    balance = [100] * 10
    balance[order[1]] = 7  # cannot pay γ_p = 8: drawn as a proposer, removed

    result = derive_draw(seed, 10, cohort=2, committee=3, eligible=eligible, balance=balance,
                         proposer_stake=8, voter_stake=4)  # fmt: skip

    assert result.drawn == tuple(order[1:6])
    assert result.removed == (order[1],)
    assert result.proposers == (order[2],)
    assert result.voters == tuple(order[3:6])
    assert result.steps == 6


def _reference(hospitals: int = 20, tokens: int = 64, pool: int = 100) -> FlockReference:
    ref = FlockReference(hospitals, STAKES, cohort=3, committee=7)
    for h in range(hospitals):
        ref.deposit(h, tokens)
    ref.fund_pool(pool)
    return ref


def test_accept_refunds_and_rewards_proposers_and_pays_the_majority() -> None:
    ref = _reference()
    draw = ref.draw(draw_seed(0, 1))
    votes = {v: i < 5 for i, v in enumerate(draw.voters)}  # 5 accept, 2 reject

    out = ref.settle(votes)

    share = 2 * STAKES.voter_stake // 5
    assert out.accepted and (out.accepts, out.rejects) == (5, 2)
    assert all(ref.claimable[p] == 64 + STAKES.proposer_reward for p in draw.proposers)
    assert all(ref.claimable[v] == 64 + share for v in draw.voters[:5])
    assert all(ref.claimable[v] == 64 - STAKES.voter_stake for v in draw.voters[5:])
    assert ref.pool == 100 - 3 * STAKES.proposer_reward + (2 * STAKES.voter_stake - 5 * share)
    assert ref.total_staked == 0


def test_tie_rejects_slashes_proposers_and_refunds_voters_but_not_abstainers() -> None:
    ref = _reference()
    draw = ref.draw(draw_seed(0, 2))
    votes = {v: i % 2 == 0 for i, v in enumerate(draw.voters[:6])}

    out = ref.settle(votes)

    assert not out.accepted and out.proposer_payout == 0
    assert all(ref.claimable[v] == 64 for v in draw.voters[:6])
    assert ref.claimable[draw.voters[6]] == 64 - STAKES.voter_stake
    assert ref.pool == 100 + 3 * STAKES.proposer_stake + STAKES.voter_stake


def test_tokens_are_conserved_over_random_rounds() -> None:
    rng = random.Random(5)
    ref = _reference(hospitals=30, tokens=20, pool=10)
    total = sum(ref.claimable) + ref.pool
    for r in range(200):
        draw = ref.draw(draw_seed(9, r))
        ref.settle({v: rng.random() < 0.5 for v in draw.voters if rng.random() < 0.9})
        assert sum(ref.claimable) + ref.pool + ref.total_staked == total
    assert Status.REMOVED in ref.status  # 20 tokens do not last 200 rounds for everyone


def test_reputation_rule_with_degradation_and_suspension() -> None:
    params = ReputationParams(fixed(0.5), fixed(0.05), fixed(0.5), fixed(0.5), fixed(0.5), 2)
    rep = ReputationReference(params)

    assert not rep.update(1, 0, fixed(0.8))
    assert rep.reputation_of(0) == (fixed(0.5) + fixed(0.8)) // 2
    assert not rep.update(2, 0, fixed(0.4))  # degraded: first strike
    assert rep.weight_of(0) == (ONE + ONE) // 2 * fixed(0.5) // ONE
    assert rep.update(3, 0, fixed(0.1))  # second strike: suspend
    assert rep.records[0].strikes == 0
    with pytest.raises(ValueError, match="updated for round 3"):
        rep.update(3, 0, fixed(0.1))
