"""Sending transactions: local signing, nonces, receipts, and what each transaction cost.

Transactions are signed here with a key derived from the configured mnemonic, not by the
node, so the same code drives anvil and any other node at ``chain.url``. The gas of a
transaction is estimated by the node first; a revert surfaces there, before anything is sent,
and is decoded into :class:`~bflray.errors.ContractRevertError`. A transaction that reverts
once mined (the state changed between estimate and inclusion) is replayed with ``eth_call``
at its block to recover the revert data.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import ContractLogicError, TimeExhausted

from bflray.chain.reverts import RevertDecoder, revert_data, translate_reverts
from bflray.errors import ChainError

__all__ = ["Signer", "TxReceipt", "derive_account"]

_TOPIC_BYTES = 32
_RECEIPT_POLL_S = 0.01


@dataclass(frozen=True)
class TxReceipt:
    """What a mined transaction cost.

    Attributes
    ----------
    tx_hash:
        ``0x``-prefixed transaction hash.
    gas_used:
        Gas the transaction used.
    calldata_bytes:
        Length of its input data (for a deployment, the creation code and arguments).
    log_bytes:
        Bytes its logs put on chain: each log's data plus 32 bytes per topic.
    block_number:
        The block that includes it.
    """

    tx_hash: str
    gas_used: int
    calldata_bytes: int
    log_bytes: int
    block_number: int


def derive_account(mnemonic: str, index: int = 0) -> LocalAccount:
    """The account at ``m/44'/60'/0'/0/<index>`` of ``mnemonic`` (anvil's dev accounts)."""
    if index < 0:
        raise ValueError(f"account index must be >= 0, got {index}")
    Account.enable_unaudited_hdwallet_features()
    try:
        account: LocalAccount = Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{index}")
    except Exception as exc:  # eth_account raises several kinds for a bad phrase
        raise ChainError(f"cannot derive account {index} from chain.mnemonic: {exc}") from exc
    return account


def _log_bytes(logs: Any) -> int:
    return sum(len(bytes(log["data"])) + _TOPIC_BYTES * len(log["topics"]) for log in logs)


class Signer:
    """Signs and sends transactions from one local account, one at a time.

    Parameters
    ----------
    web3:
        A connected ``Web3``.
    account:
        The sending account (see :func:`derive_account`).
    receipt_timeout_s:
        How long to wait for a sent transaction to be mined.
    """

    def __init__(self, web3: Web3, account: LocalAccount, *, receipt_timeout_s: float) -> None:
        self.web3 = web3
        self.account = account
        self.receipt_timeout_s = receipt_timeout_s
        self._chain_id = web3.eth.chain_id
        self._nonce: int | None = None
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        """The sender's checksum address."""
        return str(self.account.address)

    def send(self, call: Any, decoder: RevertDecoder) -> tuple[TxReceipt, Mapping[str, Any]]:
        """Estimate, sign, send and wait for a contract call or constructor.

        Parameters
        ----------
        call:
            A web3 ``ContractFunction`` (``contract.functions.f(...)``) or ``ContractConstructor``.
        decoder:
            Decodes a revert against the contract's ABI.

        Returns
        -------
        tuple[TxReceipt, Mapping[str, Any]]
            The cost summary and web3's raw receipt.

        Raises
        ------
        ContractRevertError
            If the call reverts, at estimation or once mined.
        ChainError
            If the node refuses the transaction or it is not mined within the timeout.
        """
        with self._lock:
            if self._nonce is None:
                self._nonce = self.web3.eth.get_transaction_count(self.account.address, "pending")
            params = {"from": self.account.address, "nonce": self._nonce, "chainId": self._chain_id}
            with translate_reverts(decoder):
                tx = call.build_transaction(params)
            signed = self.account.sign_transaction(tx)
            try:
                tx_hash = self.web3.eth.send_raw_transaction(signed.raw_transaction)
            except Exception as exc:
                self._nonce = None  # resynchronise from the node next time
                raise ChainError(f"the node refused transaction nonce={params['nonce']}: {exc}") from exc
            self._nonce += 1
        try:
            receipt = self.web3.eth.wait_for_transaction_receipt(
                tx_hash, timeout=self.receipt_timeout_s, poll_latency=_RECEIPT_POLL_S
            )
        except TimeExhausted as exc:
            raise ChainError(
                f"transaction {tx_hash.to_0x_hex()} not mined within {self.receipt_timeout_s:g} s"
            ) from exc
        if receipt["status"] != 1:
            raise self._replay_revert(tx, receipt["blockNumber"], decoder)
        summary = TxReceipt(
            tx_hash=tx_hash.to_0x_hex(),
            gas_used=int(receipt["gasUsed"]),
            calldata_bytes=len(bytes.fromhex(str(tx["data"]).removeprefix("0x"))),
            log_bytes=_log_bytes(receipt["logs"]),
            block_number=int(receipt["blockNumber"]),
        )
        return summary, receipt

    def _replay_revert(self, tx: Mapping[str, Any], block_number: int, decoder: RevertDecoder) -> Exception:
        replay = {key: tx[key] for key in ("from", "to", "data", "value", "gas") if key in tx}
        try:
            self.web3.eth.call(replay, block_identifier=block_number)  # type: ignore[arg-type]
        except ContractLogicError as exc:
            return decoder.decode(revert_data(exc))
        return decoder.decode(None)
