"""The chain layer: anvil lifecycle, contract artifacts and bindings, Merkle commitments.

``Chain.open(config)`` is the entry point: it starts anvil (or reaches ``config.url``),
deploys the ledger from the artifacts shipped in this package, and exposes typed
bindings whose reverts are decoded into :class:`~bflray.errors.ContractRevertError`;
``Chain.open(config, state=..., ledger_address=...)`` starts anvil from a saved chain state
and attaches to the ledger there instead (a resumed run), as ``attach_federation`` does for
the other contracts.
``deploy_federation(chain, ...)`` adds the registry, stake token, stake voting (FLock) and
reputation contracts and returns a :class:`Federation` that drives rounds; ``ChainMeter``
measures what they cost; ``flock_reference`` re-derives the draw and the settlement in
plain Python.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bflray.chain.anvil import AnvilNode, anvil_version, connect, start_anvil
    from bflray.chain.artifacts import (
        Artifact,
        artifact_versions,
        build_artifacts,
        check_artifacts,
        load_artifact,
        shipped_contracts,
    )
    from bflray.chain.attach import attach_federation
    from bflray.chain.binding import ContractBinding
    from bflray.chain.bulk import BulkSender, TxRequest
    from bflray.chain.client import Chain
    from bflray.chain.federation import AccountLayout, Federation, deploy_federation
    from bflray.chain.flock_reference import FlockReference, derive_draw, draw_seed
    from bflray.chain.keys import Key, derive_keys
    from bflray.chain.ledger import FederationLedger
    from bflray.chain.meter import ChainMeter
    from bflray.chain.params import Plan, ReputationParams, Stakes, fixed
    from bflray.chain.registry import Registry
    from bflray.chain.reputation import Reputation
    from bflray.chain.token import StakeToken
    from bflray.chain.voting import StakeVoting
    from bflray.chain.merkle import MerkleTree, keccak, leaf, leaves, merkle_proof, merkle_root, verify
    from bflray.chain.reverts import RevertDecoder, translate_reverts
    from bflray.chain.transactions import Signer, TxReceipt, derive_account

# Names resolve on first use, so `import bflray.chain` stays light (no web3) and
# `python -m bflray.chain.artifacts` runs its module once, not after a package import.
_HOMES = {
    "AnvilNode": "anvil", "anvil_version": "anvil", "connect": "anvil", "start_anvil": "anvil",
    "Artifact": "artifacts", "artifact_versions": "artifacts", "build_artifacts": "artifacts",
    "check_artifacts": "artifacts", "load_artifact": "artifacts", "shipped_contracts": "artifacts",
    "attach_federation": "attach",
    "ContractBinding": "binding",
    "BulkSender": "bulk", "TxRequest": "bulk",
    "Chain": "client",
    "AccountLayout": "federation", "Federation": "federation", "deploy_federation": "federation",
    "FlockReference": "flock_reference", "derive_draw": "flock_reference", "draw_seed": "flock_reference",
    "Key": "keys", "derive_keys": "keys",
    "FederationLedger": "ledger",
    "ChainMeter": "meter",
    "Plan": "params", "ReputationParams": "params", "Stakes": "params", "fixed": "params",
    "Registry": "registry", "Reputation": "reputation", "StakeToken": "token", "StakeVoting": "voting",
    "MerkleTree": "merkle", "keccak": "merkle", "leaf": "merkle", "leaves": "merkle",
    "merkle_proof": "merkle", "merkle_root": "merkle", "verify": "merkle",
    "RevertDecoder": "reverts", "translate_reverts": "reverts",
    "Signer": "transactions", "TxReceipt": "transactions", "derive_account": "transactions",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'bflray.chain' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"bflray.chain.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "AccountLayout",
    "AnvilNode",
    "Artifact",
    "BulkSender",
    "Chain",
    "ChainMeter",
    "ContractBinding",
    "Federation",
    "FederationLedger",
    "FlockReference",
    "Key",
    "MerkleTree",
    "Plan",
    "Registry",
    "Reputation",
    "ReputationParams",
    "RevertDecoder",
    "Signer",
    "StakeToken",
    "StakeVoting",
    "Stakes",
    "TxReceipt",
    "TxRequest",
    "anvil_version",
    "artifact_versions",
    "attach_federation",
    "build_artifacts",
    "check_artifacts",
    "connect",
    "deploy_federation",
    "derive_account",
    "derive_draw",
    "derive_keys",
    "draw_seed",
    "fixed",
    "keccak",
    "leaf",
    "leaves",
    "load_artifact",
    "merkle_proof",
    "merkle_root",
    "shipped_contracts",
    "start_anvil",
    "translate_reverts",
    "verify",
]
