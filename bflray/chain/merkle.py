"""Merkle commitments over a round's payloads, compatible with OpenZeppelin's ``MerkleProof``.

The rule, as ``FederationLedger.verifyPayload`` checks it:

- a leaf is ``keccak256(abi.encode(hospitalId, payloadHash))``: the id as a 32-byte big-endian
  word followed by the 32-byte payload hash, hashed once;
- an inner node is ``keccak256(min(a, b) ‖ max(a, b))`` over its two children (sorted pairs,
  so a proof needs no left/right flags);
- at a level with an odd number of nodes the last one is promoted unchanged to the next level;
- a proof lists the siblings from the leaf up; a promoted node contributes no sibling.

Building a tree costs N - 1 hashes; :class:`MerkleTree` keeps every level, so all N proofs of a
10,000-leaf round come from one build.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_hash.auto import keccak as _keccak

__all__ = ["EMPTY_ROUND_ROOT", "MerkleTree", "keccak", "leaf", "leaves", "merkle_proof", "merkle_root", "verify"]

_WORD = 32
_UINT256_LIMIT = 1 << 256


def keccak(data: bytes) -> bytes:
    """Keccak-256 (Ethereum's, not SHA3-256) of ``data``."""
    return bytes(_keccak(data))


#: The root a round with no payloads records (the ledger refuses the zero root).
EMPTY_ROUND_ROOT = keccak(b"bflray: empty round")


def _check_word(name: str, value: bytes) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != _WORD:
        shown = f"{len(value)} bytes" if isinstance(value, bytes | bytearray) else type(value).__name__
        raise ValueError(f"{name} must be 32 bytes, got {shown}")


def leaf(hospital_id: int, payload_hash: bytes) -> bytes:
    """The Merkle leaf of one hospital's payload: ``keccak256(abi.encode(hospital_id, payload_hash))``.

    Parameters
    ----------
    hospital_id:
        The hospital's id, 0 ≤ id < 2²⁵⁶.
    payload_hash:
        The 32-byte hash of the payload.
    """
    if not 0 <= hospital_id < _UINT256_LIMIT:
        raise ValueError(f"hospital_id must be a uint256, got {hospital_id}")
    _check_word("payload_hash", payload_hash)
    return keccak(hospital_id.to_bytes(_WORD, "big") + bytes(payload_hash))


def leaves(hospital_ids: Sequence[int], payload_hashes: Sequence[bytes]) -> list[bytes]:
    """The leaves of many payloads, in the given order (see :func:`leaf`)."""
    if len(hospital_ids) != len(payload_hashes):
        raise ValueError(
            f"need one payload hash per hospital id, got {len(hospital_ids)} ids and {len(payload_hashes)} hashes"
        )
    return [leaf(int(i), h) for i, h in zip(hospital_ids, payload_hashes, strict=True)]


def _hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b if a < b else b + a)


class MerkleTree:
    """A sorted-pair Merkle tree over leaves, every level kept for proofs.

    Parameters
    ----------
    tree_leaves:
        The leaves (32 bytes each), in order; at least one.

    Raises
    ------
    ValueError
        For no leaves or a leaf that is not 32 bytes.
    """

    def __init__(self, tree_leaves: Sequence[bytes]) -> None:
        if len(tree_leaves) == 0:
            raise ValueError("a Merkle tree needs at least one leaf, got none")
        for index, item in enumerate(tree_leaves):
            _check_word(f"leaf {index}", item)
        level = [bytes(item) for item in tree_leaves]
        self._levels: list[list[bytes]] = [level]
        while len(level) > 1:
            paired = [_hash_pair(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                paired.append(level[-1])
            level = paired
            self._levels.append(level)

    def __len__(self) -> int:
        return len(self._levels[0])

    @property
    def root(self) -> bytes:
        """The 32-byte root."""
        return self._levels[-1][0]

    def proof(self, index: int) -> list[bytes]:
        """The siblings from leaf ``index`` up to the root.

        Raises
        ------
        IndexError
            If ``index`` is not in ``[0, len(self))``.
        """
        if not 0 <= index < len(self):
            raise IndexError(f"leaf index {index} out of range for a tree of {len(self)} leaves")
        siblings: list[bytes] = []
        for level in self._levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                siblings.append(level[sibling])
            index //= 2
        return siblings


def merkle_root(tree_leaves: Sequence[bytes]) -> bytes:
    """The root of the sorted-pair tree over ``tree_leaves`` (see the module docstring)."""
    return MerkleTree(tree_leaves).root


def merkle_proof(tree_leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The inclusion proof of leaf ``index``; build a :class:`MerkleTree` once for many proofs."""
    return MerkleTree(tree_leaves).proof(index)


def verify(proof: Sequence[bytes], root: bytes, tree_leaf: bytes) -> bool:
    """Whether ``proof`` leads from ``tree_leaf`` to ``root``, as ``MerkleProof.verify`` decides."""
    _check_word("root", root)
    _check_word("leaf", tree_leaf)
    node = bytes(tree_leaf)
    for index, sibling in enumerate(proof):
        _check_word(f"proof element {index}", sibling)
        node = _hash_pair(node, bytes(sibling))
    return node == bytes(root)
