"""FederationLedger through its binding on a real anvil: rounds, proofs, decoded reverts."""

from __future__ import annotations

from pathlib import Path

import pytest

from bflray.chain import Chain, FederationLedger, MerkleTree, Signer, derive_account, keccak, leaves
from bflray.errors import ContractRevertError

pytestmark = pytest.mark.integration

MODEL = keccak(b"global model")


def _round_payloads(size: int, seed: int) -> tuple[list[int], list[bytes]]:
    hospital_ids = [1000 * seed + i for i in range(size)]
    return hospital_ids, [keccak(f"payload {seed}/{i}".encode()) for i in range(size)]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 100])
def test_python_proofs_verify_in_the_contract(shared_chain: Chain, size: int) -> None:
    ids, hashes = _round_payloads(size, seed=size)
    tree = MerkleTree(leaves(ids, hashes))
    shared_chain.ledger.record_round(size, tree.root, MODEL)

    checked = sorted({0, size // 2, size - 1})

    for i in checked:
        assert shared_chain.ledger.verify_payload(size, ids[i], hashes[i], tree.proof(i)), f"leaf {i} of {size}"


@pytest.mark.parametrize("size", [1, 2, 7])
def test_wrong_hospital_hash_or_proof_does_not_verify(shared_chain: Chain, size: int) -> None:
    round_number = 1000 + size
    ids, hashes = _round_payloads(size, seed=round_number)
    tree = MerkleTree(leaves(ids, hashes))
    shared_chain.ledger.record_round(round_number, tree.root, MODEL)
    proof = tree.proof(size - 1)
    ledger = shared_chain.ledger

    assert not ledger.verify_payload(round_number, ids[-1] + 1, hashes[-1], proof)
    assert not ledger.verify_payload(round_number, ids[-1], keccak(b"swapped payload"), proof)
    if proof:
        assert not ledger.verify_payload(round_number, ids[-1], hashes[-1], [keccak(proof[0]), *proof[1:]])
    else:
        assert not ledger.verify_payload(round_number, ids[-1], hashes[-1], [keccak(b"extra")])


def test_contract_leaf_matches_python_leaf(shared_chain: Chain) -> None:
    payload = keccak(b"x")

    assert shared_chain.ledger.payload_leaf(2**255 + 3, payload) == leaves([2**255 + 3], [payload])[0]


def test_recorded_round_reads_back_with_its_receipt(shared_chain: Chain) -> None:
    ledger = shared_chain.ledger
    root = keccak(b"root 500")

    receipt = ledger.record_round(500, root, MODEL)

    assert (ledger.payload_root(500), ledger.model_hash(500), ledger.is_recorded(500)) == (root, MODEL, True)
    assert receipt.tx_hash.startswith("0x") and len(receipt.tx_hash) == 66
    assert receipt.calldata_bytes == 4 + 3 * 32
    assert receipt.log_bytes == 2 * 32 + 2 * 32  # topics: signature, round; data: root, model hash
    assert 20_000 < receipt.gas_used < 200_000
    assert receipt.block_number == shared_chain.web3.eth.block_number


def test_RevertIf_round_recorded_twice(shared_chain: Chain) -> None:
    shared_chain.ledger.record_round(600, keccak(b"a"), MODEL)

    with pytest.raises(ContractRevertError) as caught:
        shared_chain.ledger.record_round(600, keccak(b"b"), MODEL)

    assert caught.value.error_name == "RoundAlreadyRecorded"
    assert caught.value.values == {"round": 600}
    assert caught.value.contract == "FederationLedger"


def test_RevertIf_zero_root_or_unrecorded_round(shared_chain: Chain) -> None:
    ledger = shared_chain.ledger

    with pytest.raises(ContractRevertError) as zero:
        ledger.record_round(700, bytes(32), MODEL)
    with pytest.raises(ContractRevertError) as missing:
        ledger.verify_payload(701, 1, MODEL, [])

    assert (zero.value.error_name, zero.value.values) == ("ZeroRoot", {"round": 700})
    assert (missing.value.error_name, missing.value.values) == ("RoundNotRecorded", {"round": 701})


def test_RevertIf_caller_is_not_the_owner(shared_chain: Chain) -> None:
    stranger = Signer(shared_chain.web3, derive_account(shared_chain.config.mnemonic, 1), receipt_timeout_s=10)
    as_stranger = FederationLedger(stranger, shared_chain.ledger.address)

    with pytest.raises(ContractRevertError) as caught:
        as_stranger.record_round(800, keccak(b"r"), MODEL)

    assert caught.value.error_name == "OwnableUnauthorizedAccount"
    assert caught.value.values == {"account": stranger.address}


def test_inputs_that_are_not_32_bytes_are_named(shared_chain: Chain) -> None:
    with pytest.raises(ValueError, match="payload_root must be 32 bytes, got 3 bytes"):
        shared_chain.ledger.record_round(900, b"abc", MODEL)


def test_fresh_chain_has_no_latest_round_and_an_owner(anvil_binary: Path) -> None:
    from bflray.config.schema import ChainConfig

    with Chain.open(ChainConfig(accounts=1, timeout_s=5.0)) as chain:
        assert chain.ledger.latest_round() is None
        assert chain.ledger.owner() == chain.deployer
        chain.ledger.record_round(4, keccak(b"r"), MODEL)
        chain.ledger.record_round(2, keccak(b"r"), MODEL)
        assert (chain.ledger.latest_round(), chain.ledger.round_count()) == (4, 2)
        assert chain.addresses == {"FederationLedger": chain.ledger.address}


def test_existing_node_at_url_is_used_and_left_running(anvil_binary: Path) -> None:
    from bflray.chain import start_anvil
    from bflray.config.schema import ChainConfig

    with start_anvil(ChainConfig(accounts=1)) as node:
        with Chain.open(ChainConfig(url=node.url, timeout_s=5.0)) as chain:
            assert chain.node is None and chain.url == node.url
            chain.ledger.record_round(1, keccak(b"r"), MODEL)
        assert node.running
