"""EIP-712 ballots of ``StakeVoting.voteBatch``, without web3: what a hospital signs, where it lives.

A hospital signs ``Ballot(uint256 round, address voter, bool accept)`` in the domain
``EIP712Domain(name "bflray StakeVoting", version "1", chainId, verifyingContract)``; the
relayer sends the ballots and the contract recovers each signer, so the relayer can neither
forge nor flip a vote. Only ``eth_abi``, ``eth_hash`` and libsecp256k1 are needed, so the shard
that hosts a block of hospitals can sign their ballots itself.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak

from bflray.chain.keys import Key

__all__ = ["BALLOT_TYPEHASH", "BallotDomain", "SignedBallot", "ballot_digest", "sign_ballot"]

BALLOT_TYPEHASH = bytes(keccak(b"Ballot(uint256 round,address voter,bool accept)"))
_DOMAIN_TYPEHASH = bytes(keccak(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"))
_NAME_HASH = bytes(keccak(b"bflray StakeVoting"))
_VERSION_HASH = bytes(keccak(b"1"))


@dataclass(frozen=True)
class BallotDomain:
    """The EIP-712 domain of one deployed ``StakeVoting``: the chain id and the contract's address."""

    chain_id: int
    verifying_contract: str

    @functools.cached_property
    def separator(self) -> bytes:
        """The domain separator the contract computes (OpenZeppelin's ``EIP712``)."""
        return bytes(
            keccak(
                abi_encode(
                    ["bytes32", "bytes32", "bytes32", "uint256", "address"],
                    [_DOMAIN_TYPEHASH, _NAME_HASH, _VERSION_HASH, self.chain_id, self.verifying_contract],
                )
            )
        )


@dataclass(frozen=True)
class SignedBallot:
    """A voter's signed vote, relayed by ``StakeVoting.voteBatch``."""

    voter: str
    accept: bool
    signature: bytes

    def as_tuple(self) -> tuple[str, bool, bytes]:
        """The ABI tuple ``(voter, accept, signature)``."""
        return (self.voter, self.accept, self.signature)


def ballot_digest(domain: BallotDomain | bytes, round: int, voter: str, accept: bool) -> bytes:
    """The digest a voter signs (the contract's ``ballotDigest``); ``domain`` or its separator."""
    separator = domain.separator if isinstance(domain, BallotDomain) else domain
    struct = keccak(abi_encode(["bytes32", "uint256", "address", "bool"], [BALLOT_TYPEHASH, round, voter, accept]))
    return bytes(keccak(b"\x19\x01" + separator + struct))


def sign_ballot(key: Key, domain: BallotDomain | bytes, round: int, accept: bool) -> SignedBallot:
    """``key``'s ballot for ``round``, signed (65 bytes ``r ‖ s ‖ v``)."""
    return SignedBallot(key.address, accept, key.sign_digest(ballot_digest(domain, round, key.address, accept)))
