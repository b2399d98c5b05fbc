"""New storage slots per round do not grow with N: the slots a round would create on first use
(participation records, draw-permutation positions, draw entries, reputation records) are
written when the federation is deployed (``reserveSlots``, ``reserveRecords``)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bflray.chain import Chain
from bflray.chain.federation import deploy_federation
from bflray.chain.flock_reference import draw_seed
from bflray.chain.merkle import keccak
from bflray.chain.meter import ChainMeter
from bflray.chain.params import Plan, ReputationParams, Stakes, fixed
from bflray.chain.rpc import JsonRpc
from bflray.config.schema import ChainConfig

pytestmark = pytest.mark.integration
COHORT, COMMITTEE, ROUNDS = 3, 6, 3


def _new_slots_per_round(hospitals: int) -> list[int]:
    with Chain.open(ChainConfig(accounts=2, timeout_s=30.0)) as chain:
        meter = ChainMeter(JsonRpc(chain.url), trace_storage=True)
        plan = Plan(keccak(b"model"), keccak(b"hyperparameters"), fixed(1), fixed("1e-5"), 100, COHORT, COMMITTEE)
        fed = deploy_federation(
            chain, hospitals=hospitals, validators=4, plan=plan,
            stakes=Stakes(proposer_stake=8, voter_stake=8, proposer_reward=2, voting_period=3600),
            reputation_params=ReputationParams(fixed(0.5), fixed(0.05), fixed(0.5), fixed(0.5), fixed(0.5), 3),
            initial_tokens=10**6, pool_tokens=10**6, meter=meter,
        )  # fmt: skip
        rng = random.Random(hospitals)
        slots = []
        for r in range(1, ROUNDS + 1):
            fed.open_round(r, draw_seed(7, r))
            draw = fed.draw(r)
            fed.vote(r, {h: rng.random() < 0.8 for h in draw.voters}, "batched")
            fed.settle(r)
            fed.update_reputation(r, {h: 0.5 for h in draw.proposers + draw.voters})
            fed.record_round(r, keccak(b"root %d" % r), keccak(b"model %d" % r))
            fed.attest(r, keccak(b"root %d" % r), keccak(b"model %d" % r))
            slots.append(int(meter.totals(r)["new_slots"]))
        return slots


def test_new_storage_slots_per_round_are_the_same_at_twelve_and_at_eighty_hospitals(anvil_binary: Path) -> None:
    small, large = _new_slots_per_round(12), _new_slots_per_round(80)
    assert small == large, (small, large)
