"""The chain layer: anvil lifecycle, contract artifacts and bindings, Merkle commitments.

``Chain.open(config)`` is the entry point: it starts anvil (or reaches ``config.url``),
deploys the contracts from the artifacts shipped in this package, and exposes typed
bindings whose reverts are decoded into :class:`~bflray.errors.ContractRevertError`.
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
    from bflray.chain.binding import ContractBinding
    from bflray.chain.client import Chain
    from bflray.chain.ledger import FederationLedger
    from bflray.chain.merkle import MerkleTree, keccak, leaf, leaves, merkle_proof, merkle_root, verify
    from bflray.chain.reverts import RevertDecoder, translate_reverts
    from bflray.chain.transactions import Signer, TxReceipt, derive_account

# Names resolve on first use, so `import bflray.chain` stays light (no web3) and
# `python -m bflray.chain.artifacts` runs its module once, not after a package import.
_HOMES = {
    "AnvilNode": "anvil", "anvil_version": "anvil", "connect": "anvil", "start_anvil": "anvil",
    "Artifact": "artifacts", "artifact_versions": "artifacts", "build_artifacts": "artifacts",
    "check_artifacts": "artifacts", "load_artifact": "artifacts", "shipped_contracts": "artifacts",
    "ContractBinding": "binding",
    "Chain": "client",
    "FederationLedger": "ledger",
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
    "AnvilNode",
    "Artifact",
    "Chain",
    "ContractBinding",
    "FederationLedger",
    "MerkleTree",
    "RevertDecoder",
    "Signer",
    "TxReceipt",
    "anvil_version",
    "artifact_versions",
    "build_artifacts",
    "check_artifacts",
    "connect",
    "derive_account",
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
