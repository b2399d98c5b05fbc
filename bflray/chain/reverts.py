"""Decode contract reverts into :class:`~bflray.errors.ContractRevertError`, for any ABI.

Revert data is a 4-byte selector and ABI-encoded arguments. The selector is looked up among
the ABI's ``error`` entries (custom errors, inherited ones included, as the compiler lists
them) and Solidity's two built-ins, ``Error(string)`` (``require`` with a message) and
``Panic(uint256)``; the arguments are decoded by their declared types and named by their
declared names. Data that matches nothing becomes ``UnknownError(selector, data)``, and a
revert with no data at all ``Revert()``.

web3.py raises on a revert wherever a node reports it: ``eth_call`` and ``eth_estimateGas``
(so building a transaction already reverts) come back as ``ContractLogicError`` and its
subclasses ``ContractCustomError``/``ContractPanicError``, each with a ``data`` attribute
holding the hex revert data. :func:`translate_reverts` turns those into
``ContractRevertError``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils.abi import abi_to_signature, collapse_if_tuple, function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3.exceptions import ContractLogicError

from bflray.errors import ContractRevertError

__all__ = ["RevertDecoder", "revert_data", "translate_reverts"]

_BUILTIN_ERRORS: tuple[dict[str, Any], ...] = (
    {"type": "error", "name": "Error", "inputs": [{"name": "message", "type": "string"}]},
    {"type": "error", "name": "Panic", "inputs": [{"name": "code", "type": "uint256"}]},
)


def _normalise(value: Any, abi_type: str) -> Any:
    """Checksum addresses; leave the rest as eth_abi decodes it (ints, bytes, str, tuples)."""
    if abi_type == "address" and isinstance(value, str):
        return to_checksum_address(value)
    if abi_type.startswith("address[") and isinstance(value, tuple | list):
        return tuple(_normalise(item, "address") for item in value)
    return value


class RevertDecoder:
    """Decodes revert data against one contract's ABI.

    Parameters
    ----------
    abi:
        The contract's ABI entries; its ``error`` entries are used.
    contract:
        The contract's name, carried into every error for its message.
    """

    def __init__(self, abi: Sequence[Mapping[str, Any]], *, contract: str = "") -> None:
        self.contract = contract
        self._errors: dict[bytes, Mapping[str, Any]] = {}
        for entry in (*_BUILTIN_ERRORS, *(e for e in abi if e.get("type") == "error")):
            selector = function_signature_to_4byte_selector(abi_to_signature(dict(entry)))  # type: ignore[arg-type]
            self._errors[bytes(selector)] = entry

    def decode(self, data: bytes | str | None) -> ContractRevertError:
        """The error that revert ``data`` (bytes or hex) encodes.

        Parameters
        ----------
        data:
            The revert data; ``None`` or empty for a revert without data.
        """
        raw = _as_bytes(data)
        if not raw:
            return ContractRevertError("Revert", {}, contract=self.contract)
        selector, payload = raw[:4], raw[4:]
        entry = self._errors.get(selector)
        if entry is not None:
            inputs = list(entry.get("inputs", []))
            types = [collapse_if_tuple(dict(item)) for item in inputs]
            try:
                decoded = abi_decode(types, payload)
            except (DecodingError, ValueError, OverflowError):
                entry = None
            else:
                values = {
                    str(item.get("name") or f"arg{index}"): _normalise(value, abi_type)
                    for index, (item, abi_type, value) in enumerate(zip(inputs, types, decoded, strict=True))
                }
                return ContractRevertError(str(entry["name"]), values, contract=self.contract)
        return ContractRevertError("UnknownError", {"selector": selector, "data": payload}, contract=self.contract)


def _as_bytes(data: bytes | str | None) -> bytes:
    if data is None:
        return b""
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    text = data.strip()
    if text.startswith("Reverted "):
        text = text[len("Reverted ") :]
    try:
        return bytes(HexBytes(text))
    except ValueError:
        return b""


def revert_data(exc: BaseException) -> bytes | None:
    """The revert data a web3 exception carries, or ``None`` when it carries none.

    Handles ``ContractLogicError`` (``data`` as a hex string, or a dict with a ``data`` key
    as some nodes answer) and JSON-RPC errors whose payload has revert data.
    """
    data: Any = getattr(exc, "data", None)
    if data is None and exc.args and isinstance(exc.args[0], Mapping):
        data = exc.args[0].get("data")
    if isinstance(data, Mapping):
        data = data.get("data")
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    if isinstance(data, str):
        raw = _as_bytes(data)
        return raw or None
    return None


@contextmanager
def translate_reverts(decoder: RevertDecoder) -> Iterator[None]:
    """Re-raise a web3 revert inside the block as ``ContractRevertError``, decoded by ``decoder``.

    Raises
    ------
    ContractRevertError
        With the decoded error's name and values, chained to web3's exception.
    """
    try:
        yield
    except ContractLogicError as exc:
        raise decoder.decode(revert_data(exc)) from exc
