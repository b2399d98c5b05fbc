"""Fast account derivation and local signing agree with eth_account, byte for byte (no chain)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from eth_account import Account
from eth_keys.datatypes import Signature

from bflray.chain.keys import derive_keys, key_from_private
from bflray.chain.transactions import derive_account
from bflray.errors import ChainError

MNEMONIC = "test test test test test test test test test test test junk"


@pytest.mark.parametrize("index", [0, 1, 9, 1000, 10_999])
def test_derived_keys_equal_eth_accounts_bip32_accounts(index: int) -> None:
    (key,) = derive_keys(MNEMONIC, [index])
    account = derive_account(MNEMONIC, index)

    assert (key.address, key.private_key) == (account.address, bytes(account.key))


def test_anvils_first_dev_account() -> None:
    assert derive_keys(MNEMONIC, [0])[0].address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def test_ten_thousand_accounts_derive_in_seconds() -> None:
    other = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
    start = time.perf_counter()
    keys = derive_keys(other, range(10_000))
    elapsed = time.perf_counter() - start

    assert len({k.address for k in keys}) == 10_000
    assert elapsed < 10.0, f"10,000 accounts took {elapsed:.1f} s"  # about 0.7 s on the project's machines


def test_invalid_mnemonic_is_a_chain_error() -> None:
    with pytest.raises(ChainError, match="mnemonic"):
        derive_keys("not a valid phrase at all", [0])


def test_negative_index_is_refused() -> None:
    with pytest.raises(ValueError, match="account index"):
        derive_keys(MNEMONIC, [-1])


@pytest.mark.parametrize("data", [b"", bytes(range(200))])
def test_signed_transaction_is_byte_identical_to_eth_accounts(data: bytes) -> None:
    (key,) = derive_keys(MNEMONIC, [3])
    fields: dict[str, Any] = {"chain_id": 31337, "nonce": 7, "to": "0x5FbDB2315678afecb367f032d93F642f64180aa3", "data": data,
              "gas": 123_456, "max_fee_per_gas": 3 * 10**9, "max_priority_fee_per_gas": 1, "value": 5}  # fmt: skip

    raw, tx_hash = key.sign_transaction(**fields)
    reference = Account.sign_transaction(
        {"type": 2, "chainId": 31337, "nonce": 7, "to": fields["to"], "data": data, "gas": 123_456,
         "maxFeePerGas": 3 * 10**9, "maxPriorityFeePerGas": 1, "value": 5},
        key.private_key,
    )  # fmt: skip

    assert raw == bytes(reference.raw_transaction)
    assert tx_hash == bytes(reference.hash)


def test_digest_signature_recovers_to_the_signer_with_v_27_or_28() -> None:
    key = key_from_private("0x" + "11" * 32)
    digest = bytes(range(32))

    signature = key.sign_digest(digest)
    recovered = Signature(signature[:64] + bytes([signature[64] - 27])).recover_public_key_from_msg_hash(digest)

    assert signature[64] in (27, 28)
    assert recovered.to_checksum_address() == key.address
