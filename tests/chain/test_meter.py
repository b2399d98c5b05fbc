"""ChainMeter's aggregation and the state-diff slot counting (no chain)."""

from __future__ import annotations

from bflray.chain.bulk import BulkResult
from bflray.chain.meter import ChainMeter, storage_diff
from bflray.chain.params import ONE, fixed
from bflray.chain.transactions import TxReceipt

ZERO = "0x" + "00" * 32
ONE_WORD = "0x" + "00" * 31 + "01"


def _receipt(i: int, gas: int = 100, block: int = 1) -> TxReceipt:
    return TxReceipt(tx_hash=f"0x{i:064x}", gas_used=gas, calldata_bytes=10, log_bytes=64, block_number=block)


def test_storage_diff_counts_slots_made_non_empty_and_emptied() -> None:
    trace = {
        "pre": {"0xc": {"storage": {"0x1": ONE_WORD, "0x2": ZERO, "0x5": ONE_WORD}}, "0xd": {"balance": "0x1"}},
        "post": {
            "0xc": {"storage": {"0x1": "0x" + "00" * 31 + "02", "0x2": ONE_WORD, "0x3": ONE_WORD}},
            "0xe": {"storage": {"0x9": ONE_WORD}},
        },
    }
    # 0x1 changed (not new), 0x2 zero → set (new), 0x3 absent → set (new), 0xe's 0x9 new;
    # 0x5 absent from post: emptied (freed)
    assert storage_diff(trace) == (3, 1)
    assert storage_diff({}) == (0, 0)


def test_rows_aggregate_per_round_contract_and_function() -> None:
    meter = ChainMeter()  # no node: no storage accounting
    meter.record("Registry", "registerHospitals", _receipt(0, 500), 0.5)
    with meter.in_round(3):
        meter.record("StakeVoting", "draw", _receipt(1, 300), 0.25)
        meter.record("StakeVoting", "draw", _receipt(2, 200), 0.25)
        meter.record_burst("StakeVoting", "vote", BulkResult([_receipt(3), _receipt(4)], [{}, {}], 0.1, 1))
    assert meter.round == -1

    rows = meter.rows(3)

    assert [(r["function"], r["count"], r["gas"]) for r in rows] == [("draw", 2, 500), ("vote", 2, 200)]
    assert rows[1]["seconds"] == 0.1 and rows[0]["calldata_bytes"] == 20 and rows[0]["new_slots"] is None
    assert meter.totals(3)["gas"] == 700 and meter.totals()["count"] == 5
    assert len(meter.drain(3)) == 2 and meter.rows(3) == [] and len(meter.rows()) == 1
    assert ChainMeter.table(meter.rows()).column_names[:3] == ["round", "contract", "function"]


def test_fixed_point() -> None:
    assert (fixed(1), fixed(0.3), fixed("1e-5"), fixed(0)) == (ONE, 3 * 10**17, 10**13, 0)
