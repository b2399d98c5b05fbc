"""The base of every typed contract binding: deploy from a shipped artifact, call, transact.

A binding subclass names its contract and wraps each Solidity function in a typed method
built on :meth:`ContractBinding._call` (views) and :meth:`ContractBinding._transact` (state
changes). Both decode any revert against the contract's ABI, so a new contract gets
:class:`~bflray.errors.ContractRevertError` with its custom errors' names and values for free.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Self

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak
from eth_utils.abi import abi_to_signature, collapse_if_tuple, function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract

from bflray.chain.artifacts import Artifact, load_artifact
from bflray.chain.reverts import RevertDecoder, translate_reverts
from bflray.chain.bulk import gas_limit, simulate
from bflray.chain.rpc import JsonRpc, RpcError
from bflray.chain.transactions import OutOfGasError, Signer, TxReceipt
from bflray.errors import ChainError

if TYPE_CHECKING:
    from bflray.chain.meter import ChainMeter

__all__ = ["ContractBinding", "check_bytes32", "rpc_for"]

_GAS_TARGET = 0.9  # a chunk's gas stays under this fraction of the block gas limit
_PREDICTED_FILL = 0.85  # a chunk sized from the previous one's gas per item aims at this fraction of the target


@functools.cache
def rpc_for(url: str) -> JsonRpc:
    """The shared batch JSON-RPC client of the node at ``url``."""
    return JsonRpc(url)


def _hex_bytes(value: Any) -> bytes:
    return bytes(HexBytes(value))


def _as_hex(value: Any) -> str:
    return value.lower() if isinstance(value, str) else "0x" + bytes(value).hex()


def _is_word(abi_type: str) -> bool:
    """Whether a value of ``abi_type`` is one 32-byte word decoded by :func:`_word`."""
    return abi_type in ("address", "bool", "bytes32") or (abi_type.startswith(("uint", "int")) and "[" not in abi_type)


@functools.lru_cache(maxsize=1 << 16)
def _checksum(raw: bytes) -> str:
    return to_checksum_address(raw)


def _word(abi_type: str, word: bytes) -> Any:
    if abi_type == "address":
        return _checksum(word[12:])
    if abi_type == "bool":
        return word != bytes(32)
    if abi_type == "bytes32":
        return word
    return int.from_bytes(word, "big", signed=abi_type.startswith("int"))


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

    Attributes
    ----------
    meter:
        When set, every transaction sent through :meth:`_transact` is recorded there
        (contract, function, receipt, seconds).
    """

    contract_name: ClassVar[str]

    def __init__(self, signer: Signer, address: str) -> None:
        self.artifact: Artifact = load_artifact(self.contract_name)
        self.signer = signer
        self.address = Web3.to_checksum_address(address)
        self.contract: Contract = signer.web3.eth.contract(address=self.address, abi=list(self.artifact.abi))
        self._decoder = RevertDecoder(self.artifact.abi, contract=self.contract_name)
        self.meter: ChainMeter | None = None
        self._encoders: dict[str, tuple[bytes, list[str]]] = {}

    @property
    def decoder(self) -> RevertDecoder:
        """Decodes this contract's reverts."""
        return self._decoder

    def with_signer(self, signer: Signer) -> Self:
        """The same contract, sending through ``signer`` (same meter, same error decoding)."""
        bound = type(self)(signer, self.address)
        bound.meter = self.meter
        bound._decoder = self._decoder
        return bound

    def decode_errors_of(self, *contract_names: str) -> None:
        """Also decode the custom errors of these contracts (the ones this contract calls).

        A revert in a called contract bubbles up unchanged, with a selector this contract's
        ABI may not list (``StakeVoting.openRound`` reverting with the ledger's
        ``RoundNotOpened``); this contract's own errors win a selector clash.
        """
        extra = [e for name in contract_names for e in load_artifact(name).abi if e.get("type") == "error"]
        self._decoder = RevertDecoder([*extra, *self.artifact.abi], contract=self.contract_name)

    def calldata(self, function: str, *args: Any) -> bytes:
        """The calldata of ``function(*args)`` (selector and ABI-encoded arguments; tuples for structs)."""
        encoder = self._encoders.get(function)
        if encoder is None:
            entries = [e for e in self.artifact.abi if e.get("type") == "function" and e.get("name") == function]
            if len(entries) != 1:
                raise ValueError(f"{self.contract_name} has {len(entries)} functions named {function!r}")
            entry = dict(entries[0])
            types = [collapse_if_tuple(dict(item)) for item in entry.get("inputs", [])]
            encoder = (bytes(function_signature_to_4byte_selector(abi_to_signature(entry))), types)  # type: ignore[arg-type]
            self._encoders[function] = encoder
        selector, types = encoder
        return selector + abi_encode(types, list(args))

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

    @property
    def rpc(self) -> JsonRpc:
        """A batch JSON-RPC client of this binding's node."""
        return rpc_for(str(self.signer.web3.provider.endpoint_uri))  # type: ignore[attr-defined]

    def _call_many(self, function: str, args: Sequence[Sequence[Any]]) -> list[Any]:
        """``function(*a)`` for each ``a`` in ``args``, as views, in one batch request.

        A single return value comes back as itself, several as a tuple (eth_abi's decoding:
        bytes, ints, lower-case addresses as checksum strings, tuples for structs).
        """
        if not args:
            return []
        entry = next(e for e in self.artifact.abi if e.get("type") == "function" and e.get("name") == function)
        types = [collapse_if_tuple(dict(item)) for item in entry.get("outputs", [])]
        calls = [("eth_call", [{"to": self.address, "data": "0x" + self.calldata(function, *a).hex()}, "latest"])
                 for a in args]  # fmt: skip
        answers = self.rpc.batch_raw(calls)
        out = []
        for answer in answers:
            error = answer.get("error")
            if error:
                data = error.get("data")
                if isinstance(data, str) and data.startswith("0x"):
                    raise self._decoder.decode(data)
                raise RpcError("eth_call", error)
            values = abi_decode(types, _hex_bytes(answer["result"]))
            values = tuple(to_checksum_address(v) if t == "address" else v for t, v in zip(types, values, strict=True))
            out.append(values[0] if len(values) == 1 else values)
        return out

    def decode_events(self, receipts: Sequence[Mapping[str, Any]], name: str) -> list[dict[str, Any]]:
        """This contract's ``name`` events in ``receipts`` (web3 or JSON receipts), in log order.

        Each event is a dict of its arguments by name (addresses checksummed).
        """
        entry = next(e for e in self.artifact.abi if e.get("type") == "event" and e.get("name") == name)
        inputs = list(entry.get("inputs", []))
        topic = "0x" + keccak(abi_to_signature(dict(entry)).encode()).hex()  # type: ignore[arg-type]
        indexed = [(str(i["name"]), collapse_if_tuple(dict(i))) for i in inputs if i.get("indexed")]
        plain = [(str(i["name"]), collapse_if_tuple(dict(i))) for i in inputs if not i.get("indexed")]
        plain_types = [t for _, t in plain]
        words_only = all(_is_word(t) for t in plain_types)
        address = self.address.lower()
        out = []
        for receipt in receipts:
            for log in receipt["logs"]:
                topics = log["topics"]
                if not topics or _as_hex(topics[0]) != topic or str(log["address"]).lower() != address:
                    continue
                event: dict[str, Any] = {}
                for (key, abi_type), word in zip(indexed, topics[1:], strict=True):
                    event[key] = _word(abi_type, _hex_bytes(word)) if _is_word(abi_type) else _hex_bytes(word)
                data = _hex_bytes(log["data"])
                if words_only:
                    for index, (key, abi_type) in enumerate(plain):
                        event[key] = _word(abi_type, data[32 * index : 32 * index + 32])
                else:
                    for (key, abi_type), value in zip(plain, abi_decode(plain_types, data), strict=True):
                        event[key] = to_checksum_address(value) if abi_type == "address" else value
                out.append(event)
        return out

    def _gas_target(self) -> int:
        limit = int(self.signer.web3.eth.get_block("latest")["gasLimit"])
        return int(limit * _GAS_TARGET)

    def _estimate(self, function: str, *args: Any) -> int | None:
        """Gas ``function(*args)`` uses from the signer, or ``None`` when it exceeds the block gas limit."""
        call = {"from": self.signer.address, "to": self.address, "data": "0x" + self.calldata(function, *args).hex()}
        (result,) = simulate(self.rpc, [call])
        if result.revert is not None:
            raise self._decoder.decode(result.revert)
        return result.gas_used

    def _transact_sized(
        self,
        function: str,
        make_args: Callable[[int], tuple[Any, ...]],
        size: int,
        *,
        predicted: bool = False,
    ) -> tuple[int, TxReceipt, Any]:
        """Send ``function(*make_args(k))`` for the largest ``k <= size`` whose gas fits a block.

        Returns ``(k, receipt, raw receipt)``. Normally ``k`` is found by simulating the call:
        it shrinks from ``size`` in proportion to the gas used (halving when the call does not
        fit a block at all). ``predicted`` trusts ``size`` (sized from an earlier chunk's gas per
        item) and sends at once with the block's gas limit, saving the simulation; should it run
        out of gas, the attempt is metered and ``k`` is found by simulation from half the size.
        """
        target = self._gas_target()
        block_limit = int(target / _GAS_TARGET)
        k = max(1, size)
        if predicted:
            try:
                receipt, raw = self._transact_raw(function, *make_args(k), gas=block_limit)
                return k, receipt, raw
            except OutOfGasError as exc:
                if self.meter is not None:
                    self.meter.record(self.contract_name, function, exc.receipt, 0.0)
                k = max(1, k // 2)
        while True:
            estimate = self._estimate(function, *make_args(k))
            if estimate is not None and estimate <= target:
                gas = min(gas_limit(estimate), block_limit)
                receipt, raw = self._transact_raw(function, *make_args(k), gas=gas)
                return k, receipt, raw
            if k == 1:
                raise ChainError(f"{self.contract_name}.{function} needs more gas than a block has, even for one item")
            k = k // 2 if estimate is None else max(1, min(k - 1, int(k * target / estimate * 0.95)))

    def _next_size(self, taken: int, gas_used: int) -> int:
        """A chunk size predicted to use about 85 % of the gas target, from the last chunk's gas per item."""
        return max(1, int(taken * self._gas_target() * _PREDICTED_FILL / max(gas_used, 1)))

    def _transact_chunks(
        self, function: str, items: Sequence[Any], make_args: Callable[[Sequence[Any]], tuple[Any, ...]],
        *, chunk: int | None = None,
    ) -> tuple[list[TxReceipt], list[Any]]:
        """Send ``function(*make_args(part))`` over consecutive parts of ``items``, each under the block gas limit.

        ``chunk`` caps a part's size. The first part is sized by simulation, the others from
        the gas per item the previous part used (see :meth:`_transact_sized`).
        """
        receipts: list[TxReceipt] = []
        raws: list[Any] = []
        start = 0
        cap = min(len(items), chunk or len(items))
        size = cap
        predicted = False
        while start < len(items):
            remaining = items[start:]
            size = min(size, cap, len(remaining))
            taken, receipt, raw = self._transact_sized(
                function, lambda k: make_args(remaining[:k]), size, predicted=predicted
            )
            receipts.append(receipt)
            raws.append(raw)
            start += taken
            size = self._next_size(taken, receipt.gas_used)
            predicted = True
        return receipts, raws

    def _call(self, function: str, *args: Any) -> Any:
        with translate_reverts(self._decoder):
            return getattr(self.contract.functions, function)(*args).call()

    def _transact(self, function: str, *args: Any, gas: int | None = None) -> TxReceipt:
        receipt, _ = self._transact_raw(function, *args, gas=gas)
        return receipt

    def _transact_raw(self, function: str, *args: Any, gas: int | None = None) -> tuple[TxReceipt, Any]:
        """Send ``function(*args)``; the receipt summary and web3's raw receipt (with its logs)."""
        start = time.perf_counter()
        receipt, raw = self.signer.send_data(self.address, self.calldata(function, *args), self._decoder, gas=gas)
        if self.meter is not None:
            self.meter.record(self.contract_name, function, receipt, time.perf_counter() - start)
        return receipt, raw

    def __repr__(self) -> str:
        return f"{type(self).__name__}(address={self.address!r})"
