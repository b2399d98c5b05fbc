"""The federation on a real anvil: deployment and wiring, the draw re-derived off-chain, votes in
both modes, a forged ballot, validator quorum, reputation against its reference, the meter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_typing import ChecksumAddress, HexAddress, HexStr

from bflray.chain import Chain, derive_account
from bflray.chain.bulk import TxRequest
from bflray.chain.federation import AccountLayout, Federation, deploy_federation
from bflray.chain.flock_reference import Choice, ReputationReference, Role, Status, draw_picks, draw_seed
from bflray.chain.keys import derive_keys
from bflray.chain.merkle import keccak
from bflray.chain.meter import ChainMeter
from bflray.chain.params import Plan, ReputationParams, Stakes, fixed
from bflray.chain.registry import ROLES
from bflray.chain.rpc import JsonRpc
from bflray.chain.voting import Phase, SignedBallot
from bflray.config.schema import ChainConfig
from bflray.errors import ContractRevertError

pytestmark = pytest.mark.integration

HOSPITALS = 24
VALIDATORS = 7  # quorum ceil(14/3) = 5
TOKENS = 64
POOL = 100
STAKES = Stakes(proposer_stake=8, voter_stake=4, proposer_reward=2, voting_period=600)
PLAN = Plan(keccak(b"model definition"), keccak(b"hyperparameters"), fixed(1), fixed("1e-5"), 100, 3, 7)
REP = ReputationParams(fixed(0.5), fixed(0.05), fixed(0.5), fixed(0.5), fixed(0.5), 2)
ROOT, MODEL, WRONG = keccak(b"payload root"), keccak(b"model"), keccak(b"poisoned model")


@pytest.fixture(scope="module")
def fed(anvil_binary: Path) -> Iterator[Federation]:
    with Chain.open(ChainConfig(accounts=2, timeout_s=10.0)) as chain:
        meter = ChainMeter(JsonRpc(chain.url))
        yield deploy_federation(
            chain, hospitals=HOSPITALS, validators=VALIDATORS, plan=PLAN, stakes=STAKES, reputation_params=REP,
            initial_tokens=TOKENS, pool_tokens=POOL, meter=meter,
        )  # fmt: skip


class _Rounds:
    """Round numbers unique within the module (the voting contract needs each round settled)."""

    next = 1


def _open(fed: Federation, seed: bytes | None = None) -> int:
    r = _Rounds.next
    _Rounds.next += 1
    fed.open_round(r, seed or draw_seed(42, r))
    return r


def _eth(fed: Federation, address: str) -> int:
    return int(fed.chain.web3.eth.get_balance(ChecksumAddress(HexAddress(HexStr(address)))))


def _finish(fed: Federation, r: int) -> None:
    if fed.voting.round_state(r).phase == Phase.DRAWING:
        fed.draw(r)
    fed.close_voting(r)
    fed.settle(r)


def test_deployment_wires_the_contracts_and_funds_the_hospitals(fed: Federation) -> None:
    chain = fed.chain
    total = HOSPITALS * TOKENS + POOL

    assert chain.addresses == {"FederationLedger": chain.ledger.address}  # Chain.open stays ledger-only
    assert set(fed.addresses) == {"FederationLedger", "Registry", "StakeToken", "StakeVoting", "Reputation"}
    assert fed.addresses["FederationLedger"] == chain.ledger.address
    assert fed.ledger.registry() == fed.registry.address
    assert fed.voting.sources() == (fed.registry.address, fed.ledger.address)
    assert fed.voting.token() == fed.token.address
    assert fed.registry.has_role("MODERATOR_ROLE", fed.voting.address)
    assert fed.registry.has_role(ROLES["MODERATOR_ROLE"], fed.reputation.address)
    assert fed.ledger.plan(fed.task_id) == PLAN
    assert fed.voting.stakes() == STAKES and fed.reputation.params() == REP
    assert (fed.registry.hospital_count(), fed.registry.validator_count()) == (HOSPITALS, VALIDATORS)
    assert fed.registry.hospitals([0, HOSPITALS - 1]) == [(fed.hospitals[0], True), (fed.hospitals[-1], True)]
    assert fed.hospitals[5] == derive_account(chain.config.mnemonic, AccountLayout().hospital(5)).address
    assert fed.claimable() == [TOKENS] * HOSPITALS
    assert fed.token.balance_of(fed.voting.address) == total == fed.token.total_supply()
    assert fed.voting.pool() == POOL
    assert _eth(fed, fed.validators[0].address) == fed.eth_per_account
    assert _eth(fed, fed.hospitals[0]) == 0  # funded only before its first own transaction


def test_RevertIf_calls_fail_in_a_called_contract_the_error_is_still_decoded(fed: Federation) -> None:
    with pytest.raises(ContractRevertError) as unopened:
        fed.voting.open_round(999)  # the ledger has no round 999
    with pytest.raises(ContractRevertError) as twice:
        fed.registry.register_hospitals([fed.hospitals[0]])
    with pytest.raises(ContractRevertError) as broke:
        fed.voting.deposit_for([fed.hospitals[0]], [10**30])  # more than the deployer approved

    assert (unopened.value.error_name, unopened.value.values) == ("RoundNotOpened", {"round": 999})
    assert twice.value.error_name == "AlreadyRegistered"
    assert twice.value.values == {"account": fed.hospitals[0], "role": ROLES["HOSPITAL_ROLE"]}
    assert broke.value.error_name == "ERC20InsufficientAllowance" and broke.value.contract == "StakeVoting"


def test_python_draw_matches_the_chain_with_ineligible_and_broke_hospitals(fed: Federation) -> None:
    n = HOSPITALS
    r = _Rounds.next
    suspended, broke = 3, 17
    seed = next(
        s
        for s in (draw_seed(7, k) for k in range(10_000))
        if suspended in (picks := list(draw_picks(s, n))[:6]) and broke in picks
    )
    fed.registry.suspend([fed.hospitals[suspended]])
    fed.withdraw({broke: TOKENS})
    fed.open_round(r, seed)
    _Rounds.next += 1

    expected = fed.expected_draw(r)
    draw = fed.draw(r)

    assert (draw.proposers, draw.voters, draw.removed) == (expected.proposers, expected.voters, expected.removed)
    assert broke in draw.removed and suspended not in expected.drawn
    assert fed.registry.status_of(fed.hospitals[broke]) == Status.REMOVED
    assert fed.voting.participation(r, fed.hospitals[broke]) == (Role.REMOVED, Choice.NONE)
    assert [fed.voting.drawn_at(i) for i in range(len(expected.drawn))] == [fed.hospitals[h] for h in expected.drawn]
    _finish(fed, r)
    fed.registry.reinstate([fed.hospitals[suspended]])


def test_per_hospital_and_batched_votes_count_alike(fed: Federation) -> None:
    r = _open(fed)
    draw = fed.draw(r)
    half = len(draw.voters) // 2
    first = {h: True for h in draw.voters[:half]}
    second = {h: i % 2 == 0 for i, h in enumerate(draw.voters[half:])}

    own = fed.vote(r, first, "per_hospital")
    relayed = fed.vote(r, second, "batched")
    state = fed.voting.round_state(r)

    assert own.transactions == len(first) and relayed.transactions == 1
    assert state.accepts == len(first) + sum(second.values())
    assert state.rejects == len(second) - sum(second.values())
    assert fed.voting.participation(r, fed.hospitals[draw.voters[0]]) == (Role.VOTER, Choice.ACCEPT)
    assert _eth(fed, fed.hospitals[draw.voters[0]]) > 0  # funded for its own transaction
    settlement = fed.settle(r)
    assert settlement.accepted and settlement.accepts == state.accepts


def test_RevertIf_a_relayed_ballot_is_forged_or_flipped(fed: Federation) -> None:
    r = _open(fed)
    draw = fed.draw(r)
    voter, other = draw.voters[0], draw.voters[1]
    (voter_key, other_key) = fed.hospital_keys([voter, other])
    honest = fed.sign_ballots(r, {h: True for h in draw.voters[2:]})
    forged = SignedBallot(voter_key.address, False, other_key.sign_digest(fed.voting.ballot_digest(r, voter_key.address, False)))
    signed = fed.voting.sign_ballot(voter_key, r, True)
    flipped = SignedBallot(signed.voter, False, signed.signature)

    with pytest.raises(ContractRevertError) as caught:
        fed.relay_ballots(r, [*honest, forged])
    with pytest.raises(ContractRevertError) as flip:
        fed.relay_ballots(r, [flipped])

    assert caught.value.error_name == "ForgedBallot"
    assert caught.value.values == {"voter": voter_key.address, "signer": other_key.address}
    assert flip.value.error_name == "ForgedBallot" and flip.value.values["voter"] == voter_key.address
    assert flip.value.values["signer"] != voter_key.address
    state = fed.voting.round_state(r)
    assert state.accepts + state.rejects == 0  # the whole relay was refused: nothing was sent
    assert fed.voting.ballot_digest(r, voter_key.address, True) == fed.voting.ballot_digest_on_chain(
        r, voter_key.address, True
    )
    fed.relay_ballots(r, [signed, *honest])
    assert fed.voting.round_state(r).accepts == len(draw.voters) - 1
    _finish(fed, r)


def test_RevertIf_a_non_member_votes_or_a_voter_votes_twice(fed: Federation) -> None:
    r = _open(fed)
    draw = fed.draw(r)
    outsider = next(h for h in range(HOSPITALS) if h not in draw.voters)
    fed.vote(r, {draw.voters[0]: True}, "per_hospital")

    with pytest.raises(ContractRevertError) as stranger:
        fed.vote(r, {outsider: True}, "per_hospital")
    with pytest.raises(ContractRevertError) as twice:
        fed.vote(r, {draw.voters[0]: False}, "batched")

    assert (stranger.value.error_name, stranger.value.values) == (
        "NotCommitteeMember", {"account": fed.hospitals[outsider], "round": r})  # fmt: skip
    assert twice.value.error_name == "AlreadyVoted" and twice.value.values["previous"] == Choice.ACCEPT
    with pytest.raises(ContractRevertError, match="VotingStillOpen"):
        fed.settle(r)
    _finish(fed, r)


@pytest.mark.parametrize("byzantine", [1, 2, 3, 4])
@pytest.mark.parametrize("byzantine_first", [True, False])
def test_a_validator_minority_never_finalizes_a_wrong_hash(fed: Federation, byzantine: int, byzantine_first: bool) -> None:
    r = 1000 + 10 * byzantine + int(byzantine_first)
    fed.ledger.open_round(r, fed.task_id, draw_seed(5, r))
    quorum = fed.ledger.round_validators(r).quorum
    honest = list(range(byzantine, VALIDATORS))
    bad = list(range(byzantine))
    assert quorum == 5 and byzantine < quorum

    order = [(bad, WRONG), (honest, MODEL)] if byzantine_first else [(honest, MODEL), (bad, WRONG)]
    for validators, model in order:
        for v in validators:
            fed.attest(r, ROOT, model, [v])
            if fed.is_final(r):
                assert fed.ledger.final_model_hash(r) == MODEL
    burst = 1500 + r  # the same attestations in one burst of the validators' own transactions
    fed.ledger.open_round(burst, fed.task_id, draw_seed(5, burst))
    fed.attest_each(burst, {v: (ROOT, model) for validators, model in order for v in validators})
    assert fed.is_final(burst) == fed.is_final(r) == (len(honest) >= quorum)
    if fed.is_final(burst):
        assert fed.ledger.final_model_hash(burst) == MODEL

    assert fed.ledger.attestation_count(r, ROOT, WRONG) == byzantine
    assert fed.is_final(r) == (len(honest) >= quorum)
    if fed.is_final(r):
        assert (fed.ledger.final_payload_root(r), fed.ledger.final_model_hash(r)) == (ROOT, MODEL)
    else:
        with pytest.raises(ContractRevertError, match="RoundNotFinal"):
            fed.ledger.final_model_hash(r)


def test_RevertIf_a_validator_attests_twice_or_a_hospital_attests(fed: Federation) -> None:
    r = 2000
    fed.ledger.open_round(r, fed.task_id, draw_seed(5, r))
    fed.attest(r, ROOT, MODEL, [0])
    (hospital_key,) = fed.hospital_keys([0])
    fed.fund([hospital_key.address])

    with pytest.raises(ContractRevertError) as twice:
        fed.attest(r, ROOT, WRONG, [0])
    with pytest.raises(ContractRevertError) as stranger:
        fed.sender.send([fed.ledger.attest_request(hospital_key, r, ROOT, MODEL)], fed.ledger.decoder)

    assert twice.value.error_name == "AlreadyAttested"
    assert twice.value.values == {"validator": fed.validators[0].address, "round": r, "payloadRoot": ROOT,
                                  "modelHash": WRONG}  # the call's pair, not the one attested before  # fmt: skip
    assert (stranger.value.error_name, stranger.value.values) == (
        "NotValidator", {"account": hospital_key.address, "round": r})  # fmt: skip
    assert fed.ledger.has_attested(r, fed.validators[0].address) and not fed.is_final(r)


def test_reputation_updates_match_the_reference_and_suspend(fed: Federation) -> None:
    reference = ReputationReference(REP)
    for h, record in ((h, fed.reputation.record_of(fed.hospitals[h])) for h in range(HOSPITALS)):
        assert record is None, f"hospital {h} was updated before this test"
    performances = [
        {0: 0.8, 1: 0.6, 2: 0.9},
        {0: 0.7, 1: 0.61, 2: 0.3},  # 0 and 2 degrade (first strike)
        {0: 0.75, 2: 0.1},  # 2 degrades again: suspended
    ]
    for values in performances:
        r = _open(fed)
        fed.update_reputation(r, values)
        for h, p in values.items():
            reference.update(r, h, fixed(p))
        _finish(fed, r)

    for h in (0, 1, 2):
        assert fed.reputation.record_of(fed.hospitals[h]) == reference.records[h]
    assert fed.reputation.reputations([fed.hospitals[h] for h in (0, 1, 2)]) == [reference.reputation_of(h) for h in (0, 1, 2)]
    assert fed.weights([2]) == [reference.weight_of(2)] and fed.reputations([1]) == [reference.reputation_of(1)]
    assert fed.status([0, 1, 2]) == [Status.ACTIVE, Status.ACTIVE, Status.SUSPENDED]
    with pytest.raises(ContractRevertError) as again:
        fed.update_reputation(r, {0: 0.5})
    assert (again.value.error_name, again.value.values) == ("AlreadyUpdated", {"hospital": fed.hospitals[0], "round": r})
    fed.registry.reinstate([fed.hospitals[2]])


def test_meter_rows_sum_the_receipts_and_count_new_slots(fed: Federation) -> None:
    assert fed.meter is not None
    r = _open(fed)
    draw = fed.draw(r)
    fed.vote(r, dict.fromkeys(draw.voters, True), "batched")
    fed.settle(r)
    fed.record_round(r, ROOT, MODEL)

    rows = {(row["contract"], row["function"]): row for row in fed.meter.rows(r)}
    totals = fed.meter.totals(r)

    assert set(rows) == {("FederationLedger", "openRound"), ("StakeVoting", "openRound"), ("StakeVoting", "draw"),
                         ("StakeVoting", "voteBatch"), ("StakeVoting", "settle"), ("FederationLedger", "recordRound")}  # fmt: skip
    assert rows[("StakeVoting", "voteBatch")]["count"] == 1
    assert rows[("FederationLedger", "recordRound")]["calldata_bytes"] == 4 + 3 * 32
    first_record = fed.ledger.round_count() == 1  # then latestRound and roundCount are written too
    assert rows[("FederationLedger", "recordRound")]["new_slots"] == (4 if first_record else 2)  # root, model hash
    assert totals["gas"] == sum(row["gas"] for row in rows.values())
    assert totals["count"] == 1 + 1 + len(draw.outcome.receipts) + 1 + 1 + 1
    assert all(row["seconds"] > 0 and row["log_bytes"] > 0 for row in rows.values())
    setup = {(row["contract"], row["function"]) for row in fed.meter.rows(-1)}
    assert ("StakeVoting", "constructor") in setup and ("Registry", "registerHospitals") in setup
    table = ChainMeter.table(fed.meter.rows(r))
    assert table.num_rows == len(rows) and table.schema.field("new_slots").type == "int64"


def test_many_senders_in_one_burst_with_consecutive_nonces(fed: Federation) -> None:
    before = fed.claimable([4, 5, 6])
    keys = derive_keys(fed.chain.config.mnemonic, [AccountLayout().hospital(h) for h in (4, 4, 5, 6)])
    fed.fund([k.address for k in keys])
    requests = [TxRequest(k, fed.voting.address, fed.voting.calldata("withdraw", 1)) for k in keys]

    result = fed.sender.send(requests, fed.voting.decoder)

    assert len(result.receipts) == 4 and result.blocks == 1
    assert fed.claimable([4, 5, 6]) == [before[0] - 2, before[1] - 1, before[2] - 1]
    assert fed.token.balance_of(fed.hospitals[4]) == 2
