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
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import ContractLogicError, TimeExhausted

from bflray.chain.reverts import RevertDecoder, revert_data, translate_reverts
from bflray.errors import ChainError

if TYPE_CHECKING:
    from bflray.chain.keys import Key
    from bflray.chain.rpc import JsonRpc

__all__ = ["OutOfGasError", "Signer", "TxReceipt", "derive_account"]

_TOPIC_BYTES = 32
_RECEIPT_POLL_S = 0.01
_RAW_POLL_S = 0.002
_FEE_HEADROOM = 16  # max fee of raw sends: 16 × base fee + 1 gwei (the base fee is what is paid)
_GWEI = 10**9


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


class OutOfGasError(ChainError):
    """A mined transaction used its whole gas limit and reverted; ``receipt`` is what it cost."""

    def __init__(self, message: str, receipt: TxReceipt) -> None:
        super().__init__(message)
        self.receipt = receipt


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
        self._key: Key | None = None
        self._rpc: JsonRpc | None = None
        self._sync_send = True

    @property
    def address(self) -> str:
        """The sender's checksum address."""
        return str(self.account.address)

    def send(
        self, call: Any, decoder: RevertDecoder, *, gas: int | None = None
    ) -> tuple[TxReceipt, Mapping[str, Any]]:
        """Estimate, sign, send and wait for a contract call or constructor.

        Parameters
        ----------
        call:
            A web3 ``ContractFunction`` (``contract.functions.f(...)``) or ``ContractConstructor``.
        decoder:
            Decodes a revert against the contract's ABI.
        gas:
            The gas limit; ``None`` has the node estimate it (a revert then surfaces before sending).

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
            if gas is not None:
                params["gas"] = gas
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

    def send_data(
        self, to: str, data: bytes, decoder: RevertDecoder, *, gas: int | None = None, value: int = 0
    ) -> tuple[TxReceipt, dict[str, Any]]:
        """Like :meth:`send`, for calldata already encoded, without web3's formatting layers.

        Shares this signer's nonce and lock with :meth:`send`; signs with libsecp256k1 and talks
        JSON-RPC directly, so large calldata and receipts with thousands of logs cost little.

        Returns
        -------
        tuple[TxReceipt, dict[str, Any]]
            The cost summary and the node's JSON receipt (hex strings, as the node sent it).

        Raises
        ------
        ContractRevertError
            If the call reverts, at estimation or once mined.
        OutOfGasError
            If it was mined and ran out of gas.
        ChainError
            If the node refuses the transaction or it is not mined within the timeout.
        """
        from bflray.chain.keys import Key
        from bflray.chain.rpc import JsonRpc, RpcError

        if self._rpc is None:
            self._rpc = JsonRpc(str(self.web3.provider.endpoint_uri))  # type: ignore[attr-defined]
            self._key = Key(bytes(self.account.key), self.account.address)
        rpc, key = self._rpc, self._key
        assert key is not None
        call = {"from": self.address, "to": to, "data": "0x" + data.hex(), "value": hex(value)}
        with self._lock:
            if self._nonce is None:
                self._nonce = int(rpc.call("eth_getTransactionCount", [self.address, "pending"]), 16)
            if gas is None:
                try:
                    gas = int(rpc.call("eth_estimateGas", [call]), 16)
                except RpcError as exc:
                    if isinstance(exc.data, str) and exc.data.startswith("0x"):
                        raise decoder.decode(exc.data) from exc
                    raise
            base_fee = int(rpc.call("eth_getBlockByNumber", ["latest", False])["baseFeePerGas"], 16)
            raw, tx_hash = key.sign_transaction(
                chain_id=self._chain_id, nonce=self._nonce, to=to, data=data, gas=gas,
                max_fee_per_gas=_FEE_HEADROOM * base_fee + _GWEI, value=value,
            )  # fmt: skip
            receipt = None
            try:
                if self._sync_send:
                    receipt = self._send_sync(rpc, "0x" + raw.hex())
                if receipt is None:
                    rpc.call("eth_sendRawTransaction", ["0x" + raw.hex()])
            except Exception as exc:
                refused, self._nonce = self._nonce, None  # resynchronise from the node next time
                raise ChainError(f"the node refused transaction nonce={refused}: {exc}") from exc
            self._nonce += 1
        hash_hex = "0x" + tx_hash.hex()
        if receipt is None:
            receipt = self._poll_receipt(rpc, hash_hex)
        summary = TxReceipt(
            tx_hash=hash_hex,
            gas_used=int(receipt["gasUsed"], 16),
            calldata_bytes=len(data),
            log_bytes=sum((len(log["data"]) - 2) // 2 + _TOPIC_BYTES * len(log["topics"]) for log in receipt["logs"]),
            block_number=int(receipt["blockNumber"], 16),
        )
        if int(receipt["status"], 16) != 1:
            if summary.gas_used >= gas:
                raise OutOfGasError(f"transaction {hash_hex} ran out of gas (limit {gas})", summary)
            try:
                rpc.call("eth_call", [{**call, "gas": hex(gas)}, receipt["blockNumber"]])
            except RpcError as exc:
                raise decoder.decode(exc.data if isinstance(exc.data, str) else None) from exc
            raise decoder.decode(None)
        return summary, receipt

    def _send_sync(self, rpc: JsonRpc, raw_hex: str) -> dict[str, Any] | None:
        """Send and get the receipt in one request (``eth_sendRawTransactionSync``, EIP-7966; anvil has it).

        ``None`` (and plain sending from then on) when the node does not know the method.
        """
        from bflray.chain.rpc import RpcError

        try:
            receipt: dict[str, Any] = rpc.call("eth_sendRawTransactionSync", [raw_hex])
        except RpcError as exc:
            if exc.code in (-32601, -32600) or ("not" in exc.message.lower() and "method" in exc.message.lower()):
                self._sync_send = False
                return None
            raise
        return receipt

    def _poll_receipt(self, rpc: JsonRpc, hash_hex: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.receipt_timeout_s
        pause = _RAW_POLL_S
        while (receipt := rpc.call("eth_getTransactionReceipt", [hash_hex])) is None:
            if time.monotonic() > deadline:
                raise ChainError(f"transaction {hash_hex} not mined within {self.receipt_timeout_s:g} s")
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
        return dict(receipt)

    def _replay_revert(self, tx: Mapping[str, Any], block_number: int, decoder: RevertDecoder) -> Exception:
        replay = {key: tx[key] for key in ("from", "to", "data", "value", "gas") if key in tx}
        try:
            self.web3.eth.call(replay, block_identifier=block_number)  # type: ignore[arg-type]
        except ContractLogicError as exc:
            return decoder.decode(revert_data(exc))
        return decoder.decode(None)
