"""The base of every typed contract binding: deploy from a shipped artifact, call, transact.

A binding subclass names its contract and wraps each Solidity function in a typed method
built on :meth:`ContractBinding._call` (views) and :meth:`ContractBinding._transact` (state
changes). Both decode any revert against the contract's ABI, so a new contract gets
:class:`~bflray.errors.ContractRevertError` with its custom errors' names and values for free.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from web3 import Web3
from web3.contract import Contract

from bflray.chain.artifacts import Artifact, load_artifact
from bflray.chain.reverts import RevertDecoder, translate_reverts
from bflray.chain.transactions import Signer, TxReceipt
from bflray.errors import ChainError

__all__ = ["ContractBinding", "check_bytes32"]


def check_bytes32(name: str, value: bytes) -> bytes:
    """``value`` as ``bytes`` if it is 32 bytes long, else a ``ValueError`` naming ``name``."""
    if not isinstance(value, bytes | bytearray) or len(value) != 32:
        shown = f"{len(value)} bytes" if isinstance(value, bytes | bytearray) else repr(value)
        raise ValueError(f"{name} must be 32 bytes, got {shown}")
    return bytes(value)


class ContractBinding:
    """A deployed contract, reached through a signer.

    Parameters
    ----------
    signer:
        Sends this binding's transactions; its ``web3`` serves the calls.
    address:
        The contract's address.
    """

    contract_name: ClassVar[str]

    def __init__(self, signer: Signer, address: str) -> None:
        self.artifact: Artifact = load_artifact(self.contract_name)
        self.signer = signer
        self.address = Web3.to_checksum_address(address)
        self.contract: Contract = signer.web3.eth.contract(address=self.address, abi=list(self.artifact.abi))
        self._decoder = RevertDecoder(self.artifact.abi, contract=self.contract_name)

    @classmethod
    def deploy(cls, signer: Signer, *args: Any) -> tuple[Self, TxReceipt]:
        """Deploy the contract from its shipped artifact with constructor ``args``.

        Returns
        -------
        tuple[Self, TxReceipt]
            The binding to the new contract and the deployment's receipt.
        """
        artifact = load_artifact(cls.contract_name)
        factory = signer.web3.eth.contract(abi=list(artifact.abi), bytecode=artifact.bytecode)
        decoder = RevertDecoder(artifact.abi, contract=cls.contract_name)
        receipt, raw = signer.send(factory.constructor(*args), decoder)
        address = raw.get("contractAddress")
        if not address:
            raise ChainError(f"deploying {cls.contract_name} returned no contract address ({receipt.tx_hash})")
        return cls(signer, str(address)), receipt

    def _call(self, function: str, *args: Any) -> Any:
        with translate_reverts(self._decoder):
            return getattr(self.contract.functions, function)(*args).call()

    def _transact(self, function: str, *args: Any) -> TxReceipt:
        receipt, _ = self.signer.send(getattr(self.contract.functions, function)(*args), self._decoder)
        return receipt

    def __repr__(self) -> str:
        return f"{type(self).__name__}(address={self.address!r})"
