"""Revert decoding against an ABI's custom errors (no chain needed)."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import encode
from eth_utils.abi import function_signature_to_4byte_selector
from web3.exceptions import ContractCustomError

from bflray.chain.artifacts import load_artifact
from bflray.chain.reverts import RevertDecoder, revert_data, translate_reverts
from bflray.errors import ContractRevertError

ABI: list[dict[str, Any]] = [
    {"type": "error", "name": "StakeTooLow", "inputs": [
        {"name": "have", "type": "uint256"}, {"name": "need", "type": "uint256"}]},
    {"type": "error", "name": "Unauthorised", "inputs": [{"name": "account", "type": "address"}]},
    {"type": "error", "name": "Bare", "inputs": []},
]  # fmt: skip


def _data(signature: str, types: list[str], values: list[object]) -> bytes:
    return function_signature_to_4byte_selector(signature) + encode(types, values)


def test_custom_error_is_decoded_with_names_and_values() -> None:
    decoder = RevertDecoder(ABI, contract="Staking")

    error = decoder.decode(_data("StakeTooLow(uint256,uint256)", ["uint256", "uint256"], [3, 10]))

    assert (error.error_name, error.values, error.contract) == ("StakeTooLow", {"have": 3, "need": 10}, "Staking")
    assert str(error) == "Staking: reverted with StakeTooLow(have=3, need=10)"


def test_hex_string_data_and_checksum_addresses() -> None:
    raw = _data("Unauthorised(address)", ["address"], ["0x000000000000000000000000000000000000dead"])

    error = RevertDecoder(ABI).decode("0x" + raw.hex())

    assert error.values == {"account": "0x000000000000000000000000000000000000dEaD"}


def test_builtin_error_string_and_panic() -> None:
    decoder = RevertDecoder([])

    message = decoder.decode(_data("Error(string)", ["string"], ["too late"]))
    panic = decoder.decode(_data("Panic(uint256)", ["uint256"], [0x11]))

    assert (message.error_name, message.values) == ("Error", {"message": "too late"})
    assert (panic.error_name, panic.values) == ("Panic", {"code": 0x11})


def test_unknown_selector_and_empty_data() -> None:
    decoder = RevertDecoder(ABI)

    unknown = decoder.decode(bytes.fromhex("deadbeef") + bytes(32))
    empty = decoder.decode(None)

    assert unknown.error_name == "UnknownError"
    assert unknown.values["selector"] == bytes.fromhex("deadbeef")
    assert (empty.error_name, empty.values) == ("Revert", {})


def test_translate_reverts_wraps_web3_custom_error() -> None:
    decoder = RevertDecoder(load_artifact("FederationLedger").abi, contract="FederationLedger")
    hex_data = "0x" + _data("RoundAlreadyRecorded(uint256)", ["uint256"], [4]).hex()

    with pytest.raises(ContractRevertError) as caught, translate_reverts(decoder):
        raise ContractCustomError(hex_data, data=hex_data)

    assert (caught.value.error_name, caught.value.values) == ("RoundAlreadyRecorded", {"round": 4})
    assert isinstance(caught.value.__cause__, ContractCustomError)


def test_revert_data_reads_dict_payloads() -> None:
    exc = ContractCustomError("reverted", data={"data": "0xdeadbeef"})

    assert revert_data(exc) == bytes.fromhex("deadbeef")
