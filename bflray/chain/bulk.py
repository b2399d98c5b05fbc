"""Many senders at once: nonces, local signing, batched sending and receipts, bulk funding.

:class:`BulkSender` takes a burst of transactions from any number of accounts (each hospital
its own), signs them locally (:class:`~bflray.chain.keys.Key`, libsecp256k1), sends them as
one batch JSON-RPC request and collects the receipts in one more. :class:`NonceBook` keeps
every sender's next nonce, read from the node once per account (in one batch) and then
counted locally.

On anvil the burst is mined deterministically: automine is paused while the burst is sent,
then ``evm_mine`` mines blocks until the pool is empty (each block as full as the block gas
limit allows), and automine is restored. The blocks, and so the chain state, then depend only
on the transactions, not on how fast they arrived. On another node the receipts are polled.

Gas is estimated for every transaction in one batch before anything is sent (``gas=None``),
so a burst that would revert is refused whole with the decoded error and nothing is sent; a
transaction that still reverts once mined is replayed with ``eth_call`` at its block to decode
its error, which is raised after the rest of the burst completed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bflray.chain.keys import Key
from bflray.chain.reverts import RevertDecoder
from bflray.chain.rpc import JsonRpc, RpcError
from bflray.chain.transactions import TxReceipt
from bflray.errors import ChainError

__all__ = [
    "BulkResult",
    "BulkSender",
    "NonceBook",
    "Simulated",
    "TxRequest",
    "fund_accounts",
    "gas_limit",
    "log_bytes",
    "simulate",
]

_TOPIC_BYTES = 32
_POLL_S = 0.01
_FEE_HEADROOM = 16  # max fee = 16 × base fee + 1 gwei: ~23 consecutive full blocks before it binds
_GWEI = 10**9


@dataclass(frozen=True)
class TxRequest:
    """One transaction of a burst.

    Attributes
    ----------
    key:
        The sender.
    to:
        The contract called.
    data:
        The calldata.
    gas:
        The gas limit; ``None`` to simulate the call first (see :func:`gas_limit`).
    value:
        Wei sent along.
    """

    key: Key
    to: str
    data: bytes
    gas: int | None = None
    value: int = 0


@dataclass(frozen=True)
class BulkResult:
    """A mined burst.

    Attributes
    ----------
    receipts:
        Each transaction's cost, in request order.
    raw:
        Each transaction's JSON receipt (with its logs), in request order.
    seconds:
        Wall time from the first signature to the last receipt.
    blocks:
        Blocks the burst was mined in.
    """

    receipts: list[TxReceipt]
    raw: list[dict[str, Any]]
    seconds: float
    blocks: int

    @property
    def gas_used(self) -> int:
        """Gas of the whole burst."""
        return sum(r.gas_used for r in self.receipts)


@dataclass(frozen=True)
class Simulated:
    """One call simulated against the latest state.

    Attributes
    ----------
    gas_used:
        Gas it used (``None`` if it ran out of gas under the block gas limit).
    revert:
        Its revert data if it reverted (``b""`` for a revert without data), else ``None``.
    """

    gas_used: int | None
    revert: bytes | None


def gas_limit(gas_used: int) -> int:
    """A safe gas limit for a call that used ``gas_used`` in simulation.

    Covers the gas refunded at the end (at most a fifth, EIP-3529) and the 1/64 every external
    call must leave behind (EIP-150): ``gas_used · 1.25 + 30,000``.
    """
    return gas_used + gas_used // 4 + 30_000


def simulate(rpc: JsonRpc, calls: Sequence[Mapping[str, Any]]) -> list[Simulated]:
    """Each call executed once, independently, against the latest state (one batch request).

    Uses ``eth_simulateV1`` (one execution per call; anvil's ``eth_estimateGas`` binary-searches
    with many, about 20× slower for large calls), falling back to ``eth_estimateGas`` on a node
    without it.
    """
    if not calls:
        return []
    answers = rpc.batch_raw(
        [("eth_simulateV1", [{"blockStateCalls": [{"calls": [dict(call)]}]}, "latest"]) for call in calls]
    )
    if any(a.get("error") for a in answers):
        first = next(a["error"] for a in answers if a.get("error"))
        if int(first.get("code", 0)) in (-32601, -32602) or "not" in str(first.get("message", "")).lower():
            return _estimate_fallback(rpc, calls)
        raise RpcError("eth_simulateV1", first)
    out = []
    for answer in answers:
        (result,) = answer["result"][0]["calls"]
        used = int(result["gasUsed"], 16)
        if int(result["status"], 16) == 1:
            out.append(Simulated(used, None))
            continue
        data = bytes.fromhex(str(result.get("returnData") or "0x")[2:])
        message = str((result.get("error") or {}).get("message", "")).lower()
        if not data and ("gas" in message or used >= _block_gas_floor(rpc)):
            out.append(Simulated(None, None))
        else:
            out.append(Simulated(used, data))
    return out


def _block_gas_floor(rpc: JsonRpc) -> int:
    return int(rpc.call("eth_getBlockByNumber", ["latest", False])["gasLimit"], 16)


def _estimate_fallback(rpc: JsonRpc, calls: Sequence[Mapping[str, Any]]) -> list[Simulated]:
    out = []
    for answer in rpc.batch_raw([("eth_estimateGas", [dict(call)]) for call in calls]):
        error = answer.get("error")
        if not error:
            out.append(Simulated(int(answer["result"], 16), None))
            continue
        data = error.get("data")
        if isinstance(data, str) and data.startswith("0x"):
            out.append(Simulated(0, bytes.fromhex(data[2:])))
        elif any(text in str(error.get("message", "")).lower() for text in ("gas required exceeds", "out of gas")):
            out.append(Simulated(None, None))
        else:
            raise RpcError("eth_estimateGas", error)
    return out


def log_bytes(logs: Sequence[Mapping[str, Any]]) -> int:
    """Bytes logs put on chain: each log's data plus 32 bytes per topic (JSON or web3 receipts)."""
    total = 0
    for log in logs:
        data = log["data"]
        total += (len(data) - 2) // 2 if isinstance(data, str) else len(bytes(data))
        total += _TOPIC_BYTES * len(log["topics"])
    return total


def fund_accounts(rpc: JsonRpc, addresses: Sequence[str], wei: int) -> None:
    """Set each account's ether balance to ``wei`` in one batch request (anvil's ``anvil_setBalance``).

    Raises
    ------
    ChainError
        If the node has no ``anvil_setBalance`` (fund the accounts by transfers there).
    """
    if not addresses:
        return
    try:
        rpc.batch([("anvil_setBalance", [address, hex(wei)]) for address in addresses])
    except RpcError as exc:
        raise ChainError(f"cannot fund {len(addresses)} accounts in bulk (needs anvil_setBalance): {exc}") from exc


class NonceBook:
    """The next nonce of every sender: read from the node once (batched), then counted here.

    Thread-safe. :meth:`forget` drops senders whose transactions the node refused, so their
    nonces are read again next time.
    """

    def __init__(self, rpc: JsonRpc) -> None:
        self._rpc = rpc
        self._next: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, addresses: Sequence[str]) -> list[int]:
        """One nonce per entry of ``addresses``, consecutive for a sender named more than once."""
        with self._lock:
            unknown = list(dict.fromkeys(a for a in addresses if a not in self._next))
            if unknown:
                counts = self._rpc.batch([("eth_getTransactionCount", [a, "pending"]) for a in unknown])
                for address, count in zip(unknown, counts, strict=True):
                    self._next[address] = int(count, 16)
            out = []
            for address in addresses:
                out.append(self._next[address])
                self._next[address] += 1
            return out

    def forget(self, addresses: Sequence[str]) -> None:
        """Read these senders' nonces from the node again next time."""
        with self._lock:
            for address in addresses:
                self._next.pop(address, None)


class BulkSender:
    """Signs, sends and waits for bursts of transactions from many accounts.

    Parameters
    ----------
    rpc:
        The node.
    chain_id:
        The chain id signed into every transaction.
    receipt_timeout_s:
        How long a burst may take to be mined.
    manual_mining:
        Mine bursts with ``evm_mine`` (anvil); ``None`` asks the node whether it is anvil.
    """

    def __init__(
        self,
        rpc: JsonRpc,
        chain_id: int,
        *,
        receipt_timeout_s: float = 120.0,
        manual_mining: bool | None = None,
    ) -> None:
        self.rpc = rpc
        self.chain_id = chain_id
        self.receipt_timeout_s = receipt_timeout_s
        self.manual_mining = rpc.is_anvil() if manual_mining is None else manual_mining
        self.nonces = NonceBook(rpc)
        self._lock = threading.Lock()

    def estimate(self, requests: Sequence[TxRequest], decoder: RevertDecoder) -> list[int]:
        """Gas used by each of ``requests`` in simulation (one batch), against the current state.

        Raises
        ------
        ContractRevertError
            For the first request that would revert, decoded.
        ChainError
            For a request that would need more gas than a block has.
        """
        calls = [
            {"from": r.key.address, "to": r.to, "data": "0x" + r.data.hex(), "value": hex(r.value)} for r in requests
        ]
        out = []
        for index, result in enumerate(simulate(self.rpc, calls)):
            if result.revert is not None:
                raise decoder.decode(result.revert)
            if result.gas_used is None:
                raise ChainError(f"transaction {index} of the burst needs more gas than a block has")
            out.append(result.gas_used)
        return out

    def send(self, requests: Sequence[TxRequest], decoder: RevertDecoder) -> BulkResult:
        """Sign, send and mine ``requests``; every one must succeed.

        Raises
        ------
        ContractRevertError
            If a transaction would revert (nothing is sent then) or reverted once mined (the
            first such one, after the burst completed).
        ChainError
            If the node refused a transaction or the burst was not mined in time.
        """
        if not requests:
            return BulkResult([], [], 0.0, 0)
        with self._lock:
            start = time.perf_counter()
            missing = [i for i, r in enumerate(requests) if r.gas is None]
            gas = [r.gas or 0 for r in requests]
            if missing:
                for i, used in zip(missing, self.estimate([requests[i] for i in missing], decoder), strict=True):
                    gas[i] = gas_limit(used)
            base_fee = int(self.rpc.call("eth_getBlockByNumber", ["latest", False])["baseFeePerGas"], 16)
            max_fee = _FEE_HEADROOM * base_fee + _GWEI
            nonces = self.nonces.take([r.key.address for r in requests])
            raws: list[str] = []
            hashes: list[str] = []
            for request, nonce, limit in zip(requests, nonces, gas, strict=True):
                raw, tx_hash = request.key.sign_transaction(
                    chain_id=self.chain_id,
                    nonce=nonce,
                    to=request.to,
                    data=request.data,
                    gas=limit,
                    max_fee_per_gas=max_fee,
                    value=request.value,
                )
                raws.append("0x" + raw.hex())
                hashes.append("0x" + tx_hash.hex())
            if self.manual_mining:
                receipts = self._send_and_mine(requests, raws, hashes)
            else:
                self._submit(requests, raws)
                receipts = self._wait(hashes)
            seconds = time.perf_counter() - start
        summaries = []
        failed: int | None = None
        for index, (request, receipt) in enumerate(zip(requests, receipts, strict=True)):
            if int(receipt["status"], 16) != 1 and failed is None:
                failed = index
            summaries.append(
                TxReceipt(
                    tx_hash=hashes[index],
                    gas_used=int(receipt["gasUsed"], 16),
                    calldata_bytes=len(request.data),
                    log_bytes=log_bytes(receipt["logs"]),
                    block_number=int(receipt["blockNumber"], 16),
                )
            )
        if failed is not None:
            raise self._replay(requests[failed], gas[failed], receipts[failed], decoder)
        blocks = len({s.block_number for s in summaries}) if summaries else 0
        return BulkResult(summaries, receipts, seconds, blocks)

    # ------------------------------------------------------------------ internals

    def _submit(self, requests: Sequence[TxRequest], raws: Sequence[str]) -> None:
        answers = self.rpc.batch_raw([("eth_sendRawTransaction", [raw]) for raw in raws])
        refused = [(i, a["error"]) for i, a in enumerate(answers) if a.get("error")]
        if refused:
            self.nonces.forget([requests[i].key.address for i, _ in refused])
            index, error = refused[0]
            raise ChainError(
                f"the node refused {len(refused)} of {len(raws)} transactions; the first, "
                f"#{index} from {requests[index].key.address}: {error.get('message')}"
            )

    def _send_and_mine(
        self, requests: Sequence[TxRequest], raws: Sequence[str], hashes: Sequence[str]
    ) -> list[dict[str, Any]]:
        automine = bool(self.rpc.call("anvil_getAutomine"))
        if automine:
            self.rpc.call("evm_setAutomine", [False])
        try:
            try:
                self._submit(requests, raws)
            finally:
                self._mine_pending(limit=len(raws) + 2)
        finally:
            if automine:
                self.rpc.call("evm_setAutomine", [True])
                self._mine_pending(limit=len(raws) + 2)  # anything that arrived meanwhile
        return self._wait(hashes)

    def _mine_pending(self, *, limit: int) -> None:
        for _ in range(limit):
            if int(self.rpc.call("txpool_status")["pending"], 16) == 0:
                return
            self.rpc.call("evm_mine")
        raise ChainError(f"the pool still had pending transactions after mining {limit} blocks")

    def _wait(self, hashes: Sequence[str]) -> list[dict[str, Any]]:
        deadline = time.monotonic() + self.receipt_timeout_s
        receipts: list[dict[str, Any] | None] = [None] * len(hashes)
        todo = list(range(len(hashes)))
        while todo:
            answers = self.rpc.batch([("eth_getTransactionReceipt", [hashes[i]]) for i in todo])
            for i, answer in zip(todo, answers, strict=True):
                receipts[i] = answer
            todo = [i for i in todo if receipts[i] is None]
            if todo:
                if time.monotonic() > deadline:
                    raise ChainError(
                        f"{len(todo)} of {len(hashes)} transactions not mined within {self.receipt_timeout_s:g} s"
                    )
                time.sleep(_POLL_S)
        return [r for r in receipts if r is not None]

    def _replay(
        self, request: TxRequest, gas: int, receipt: Mapping[str, Any], decoder: RevertDecoder
    ) -> Exception:
        call = {
            "from": request.key.address,
            "to": request.to,
            "data": "0x" + request.data.hex(),
            "value": hex(request.value),
            "gas": hex(gas),
        }
        try:
            self.rpc.call("eth_call", [call, receipt["blockNumber"]])
        except RpcError as exc:
            if isinstance(exc.data, str):
                return decoder.decode(exc.data)
            return ChainError(f"transaction {receipt['transactionHash']} reverted: {exc.message}")
        return decoder.decode(None)
