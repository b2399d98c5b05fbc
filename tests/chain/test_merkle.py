"""Merkle commitments in Python: OpenZeppelin-compatible roots and proofs (no chain needed)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bflray.chain.merkle import MerkleTree, keccak, leaf, leaves, merkle_proof, merkle_root, verify

words = st.binary(min_size=32, max_size=32)


def _pair(a: bytes, b: bytes) -> bytes:
    return keccak(min(a, b) + max(a, b))


def test_leaf_is_keccak_of_abi_encoded_id_and_hash() -> None:
    payload = bytes(range(32))

    result = leaf(7, payload)

    assert result == keccak((7).to_bytes(32, "big") + payload)


def test_keccak_is_ethereum_keccak_not_sha3() -> None:
    assert keccak(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"


def test_single_leaf_root_is_the_leaf_with_an_empty_proof() -> None:
    only = leaf(1, bytes(32))

    assert merkle_root([only]) == only
    assert merkle_proof([only], 0) == []
    assert verify([], only, only)


def test_odd_node_is_promoted_unchanged() -> None:
    a, b, c = (keccak(bytes([i])) for i in range(3))

    assert merkle_root([a, b, c]) == _pair(_pair(a, b), c)
    assert merkle_proof([a, b, c], 2) == [_pair(a, b)]


def test_empty_leaf_list_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one leaf"):
        merkle_root([])


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="hospital_id must be a uint256, got -1"):
        leaf(-1, bytes(32))
    with pytest.raises(ValueError, match="payload_hash must be 32 bytes, got 31 bytes"):
        leaf(1, bytes(31))
    with pytest.raises(ValueError, match="leaf 1 must be 32 bytes"):
        MerkleTree([bytes(32), b"short"])
    with pytest.raises(IndexError, match="leaf index 3 out of range for a tree of 3 leaves"):
        MerkleTree([bytes(32)] * 3).proof(3)
    with pytest.raises(ValueError, match="one payload hash per hospital id"):
        leaves([1, 2], [bytes(32)])


@settings(max_examples=60, deadline=None)
@given(st.lists(words, min_size=1, max_size=70))
def test_every_proof_verifies(tree_leaves: list[bytes]) -> None:
    tree = MerkleTree(tree_leaves)

    proofs = [tree.proof(i) for i in range(len(tree_leaves))]

    assert all(verify(p, tree.root, item) for p, item in zip(proofs, tree_leaves, strict=True))
    assert tree.root == merkle_root(tree_leaves)


@settings(max_examples=60, deadline=None)
@given(st.lists(words, min_size=2, max_size=40, unique=True), st.data())
def test_tampered_proof_or_foreign_leaf_fails(tree_leaves: list[bytes], data: st.DataObject) -> None:
    tree = MerkleTree(tree_leaves)
    index = data.draw(st.integers(0, len(tree_leaves) - 1))
    proof = tree.proof(index)
    foreign = data.draw(words.filter(lambda w: w not in tree_leaves))
    position = data.draw(st.integers(0, len(proof) - 1))
    tampered = list(proof)
    tampered[position] = keccak(tampered[position])

    assert not verify(proof, tree.root, foreign)
    assert not verify(tampered, tree.root, tree_leaves[index])


def test_ten_thousand_leaves_build_quickly() -> None:
    tree_leaves = leaves(list(range(10_000)), [keccak(i.to_bytes(4, "big")) for i in range(10_000)])

    tree = MerkleTree(tree_leaves)

    assert len(tree) == 10_000
    assert verify(tree.proof(9_999), tree.root, tree_leaves[9_999])
    assert len(tree.proof(0)) == 14
