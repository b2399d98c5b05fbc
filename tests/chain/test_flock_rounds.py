"""FLock on a real anvil, round after round: exact agreement with the pure-Python reference, and
the paper's Fig. 4 dynamics (malicious voters lose their tokens)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bflray.chain import Chain
from bflray.chain.federation import Federation, deploy_federation
from bflray.chain.flock_reference import FlockReference, Status, draw_seed
from bflray.chain.merkle import keccak
from bflray.chain.params import Plan, ReputationParams, Stakes, fixed
from bflray.config.schema import ChainConfig

pytestmark = pytest.mark.integration

REP = ReputationParams(fixed(0.5), fixed(0.05), fixed(0.5), fixed(0.5), fixed(0.5), 3)


def _plan(cohort: int, committee: int) -> Plan:
    return Plan(keccak(b"model definition"), keccak(b"hyperparameters"), fixed(1), fixed("1e-5"), 1000, cohort, committee)


def _assert_same_state(fed: Federation, ref: FlockReference, when: str) -> None:
    assert fed.claimable() == ref.claimable, when
    assert fed.status() == ref.status, when
    assert (fed.voting.pool(), fed.voting.total_staked()) == (ref.pool, ref.total_staked), when
    held = fed.token.balance_of(fed.voting.address)
    assert held == sum(ref.claimable) + ref.pool + ref.total_staked, f"{when}: tokens not conserved"


def test_fifty_random_rounds_match_the_reference_exactly(anvil_binary: Path) -> None:
    rng = random.Random(2024)
    hospitals, cohort, committee = 40, 4, 12
    stakes = Stakes(proposer_stake=8, voter_stake=4, proposer_reward=3, voting_period=50)
    tokens = [rng.choice([0, 3, 4, 8, 12, 16, 24, 40, 64]) for _ in range(hospitals)]
    malicious = {h for h in range(hospitals) if rng.random() < 0.3}
    pool = 30
    with Chain.open(ChainConfig(accounts=2, timeout_s=10.0)) as chain:
        fed = deploy_federation(
            chain, hospitals=hospitals, validators=1, plan=_plan(cohort, committee), stakes=stakes,
            reputation_params=REP, initial_tokens=tokens, pool_tokens=pool,
        )  # fmt: skip
        ref = FlockReference(hospitals, stakes, cohort=cohort, committee=committee)
        for h, amount in enumerate(tokens):
            ref.deposit(h, amount)
        ref.fund_pool(pool)
        _assert_same_state(fed, ref, "after deployment")
        outcomes = {"accepted": 0, "rejected": 0, "removed": 0, "abstained": 0}
        for r in range(1, 51):
            seed = draw_seed(rng.randrange(2**64), r)
            fed.open_round(r, seed)
            draw = fed.draw(r)
            expected = ref.draw(seed)
            assert (draw.proposers, draw.voters, draw.removed) == (
                expected.proposers, expected.voters, expected.removed), f"round {r}"  # fmt: skip
            honest_proposal = rng.random() < 0.7
            votes = {}
            for v in draw.voters:
                if rng.random() < 0.15:
                    continue  # abstains (forfeits its stake)
                votes[v] = honest_proposal != (v in malicious)
            if votes:
                fed.vote(r, votes, rng.choice(["per_hospital", "batched"]))
            if len(votes) < len(draw.voters):
                fed.close_voting(r)
            settled = fed.settle(r)
            reference = ref.settle(votes)
            assert (settled.accepted, settled.accepts, settled.rejects, settled.credits) == (
                reference.accepted, reference.accepts, reference.rejects, reference.credits), f"round {r}"  # fmt: skip
            assert (settled.to_pool, settled.from_pool) == (reference.to_pool, reference.from_pool), f"round {r}"
            if rng.random() < 0.2:  # somebody takes some tokens home
                h = rng.randrange(hospitals)
                if ref.claimable[h] > 0:
                    amount = rng.randint(1, ref.claimable[h])
                    fed.withdraw({h: amount})
                    ref.withdraw(h, amount)
            _assert_same_state(fed, ref, f"after round {r}")
            outcomes["accepted" if settled.accepted else "rejected"] += 1
            outcomes["removed"] += len(draw.removed)
            outcomes["abstained"] += len(draw.voters) - len(votes)
    # the random rounds exercised every rule
    assert outcomes["accepted"] > 5 and outcomes["rejected"] > 5
    assert outcomes["removed"] > 3 and outcomes["abstained"] > 10
    assert Status.REMOVED in ref.status


def test_malicious_voters_tokens_reach_zero_within_forty_rounds(anvil_binary: Path) -> None:
    """Fig. 4 of the paper at chain level: K = 50, 64 tokens, γ_v = 8, η = 0.3, all proposals honest.

    The cohort is 10 % of K (5 proposers) and the committee the other 90 % (45 voters). Honest
    voters accept the (honest) aggregate, malicious voters reject it; the majority is honest,
    so every malicious voter loses γ_v each round it is drawn, until it cannot stake and is
    removed. A removed hospital's tokens no longer count (it left the federation; what is left
    of its balance, below γ_v, stays withdrawable).
    """
    rng = random.Random(4)
    k, eta, gamma = 50, 0.3, 8
    malicious = set(rng.sample(range(k), int(eta * k)))
    honest = [h for h in range(k) if h not in malicious]
    stakes = Stakes(proposer_stake=gamma, voter_stake=gamma, proposer_reward=2, voting_period=600)
    with Chain.open(ChainConfig(accounts=2, timeout_s=10.0)) as chain:
        fed = deploy_federation(
            chain, hospitals=k, validators=1, plan=_plan(5, 45), stakes=stakes, reputation_params=REP,
            initial_tokens=64,
        )  # fmt: skip
        mean_malicious = []
        for r in range(1, 41):
            fed.open_round(r, draw_seed(11, r))
            draw = fed.draw(r)
            fed.vote(r, {v: v not in malicious for v in draw.voters}, "batched")
            settled = fed.settle(r)
            assert settled.accepted, f"round {r}: the honest majority accepts"
            balances, statuses = fed.claimable(), fed.status()
            in_system = [b if s == Status.ACTIVE else 0 for b, s in zip(balances, statuses, strict=True)]
            mean_malicious.append(sum(in_system[h] for h in malicious) / len(malicious))
            if mean_malicious[-1] == 0:
                break
        honest_mean = sum(balances[h] for h in honest) / len(honest)
    assert mean_malicious[-1] == 0, f"malicious voters' mean tokens by round: {mean_malicious}"
    assert len(mean_malicious) <= 40
    assert all(a >= b for a, b in zip(mean_malicious, mean_malicious[1:], strict=False))  # never recovers
    assert all(statuses[h] == Status.REMOVED for h in malicious)
    assert all(statuses[h] == Status.ACTIVE for h in honest)
    assert honest_mean > 64, "honest hospitals gained the malicious voters' stakes"


def _short_run(chain: Chain) -> tuple[int, str]:
    fed = deploy_federation(
        chain, hospitals=12, validators=3, plan=_plan(2, 5), reputation_params=REP, initial_tokens=20,
        stakes=Stakes(proposer_stake=8, voter_stake=4, proposer_reward=1, voting_period=30),
    )  # fmt: skip
    for r, mode in ((1, "per_hospital"), (2, "batched")):
        fed.open_round(r, draw_seed(3, r))
        draw = fed.draw(r)
        fed.vote(r, {v: i % 3 != 0 for i, v in enumerate(draw.voters[1:])}, mode)  # type: ignore[arg-type]
        fed.close_voting(r)
        fed.settle(r)
        fed.update_reputation(r, dict.fromkeys(draw.proposers, 0.7))
        fed.record_round(r, keccak(b"root"), keccak(b"model"))
        fed.attest(r, keccak(b"root"), keccak(b"model"))
    block = chain.web3.eth.get_block("latest")
    return int(block["number"]), block["hash"].hex()


def test_the_same_rounds_give_the_same_chain(anvil_binary: Path) -> None:
    """Deterministic chain state: bursts are mined by ``evm_mine``, the clock advances per block."""
    runs = []
    for _ in range(2):
        with Chain.open(ChainConfig(accounts=2, timeout_s=10.0)) as chain:
            runs.append(_short_run(chain))

    assert runs[0] == runs[1]
