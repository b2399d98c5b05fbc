"""The checkpoint file, bringing a run directory back to its checkpoint, and the run lock:
no anvil, no Ray."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bflray.checkpoint import CHECKPOINT_FILE, Checkpoint, model_hash, read_checkpoint, write_checkpoint
from bflray.errors import StoreError
from bflray.resume import reconcile_run_dir
from bflray.rundir import hold_run_lock
from bflray.store import read_rows, write_columns_atomic, write_table_atomic


def _checkpoint(round_: int = 2, **fields: object) -> Checkpoint:
    params = np.random.default_rng(0).normal(size=17).astype(np.float32)
    chain = {"url": "http://127.0.0.1:1", "addresses": {"FederationLedger": "0x" + "11" * 20}, "funded": ["0xab"]}
    return Checkpoint(round=round_, params=params, chain=chain, **fields)  # type: ignore[arg-type]


def test_a_checkpoint_reads_back_what_was_written(tmp_path: Path) -> None:
    saved = _checkpoint(
        memory={"previous_delta": np.arange(5.0)}, chain_state=b"\x1f\x8b state", seconds=3.5,
        accountant={"charges": [1, 2]}, resumed_from=(1,),
    )

    write_checkpoint(tmp_path, saved)
    loaded = read_checkpoint(tmp_path)

    assert loaded is not None
    np.testing.assert_array_equal(loaded.params, saved.params)
    assert loaded.params.dtype == np.float32 and loaded.model_hash == model_hash(saved.params)
    np.testing.assert_array_equal(loaded.memory["previous_delta"], np.arange(5.0))
    assert (loaded.round, loaded.chain_state, loaded.seconds, loaded.resumed_from) == (2, b"\x1f\x8b state", 3.5, (1,))
    assert loaded.accountant == {"charges": [1, 2]} and loaded.addresses == saved.addresses
    assert [p.name for p in tmp_path.iterdir()] == [CHECKPOINT_FILE], "no temporary file left"


def test_a_run_directory_without_a_checkpoint_reads_none_and_a_damaged_one_is_an_error(tmp_path: Path) -> None:
    assert read_checkpoint(tmp_path) is None
    (tmp_path / CHECKPOINT_FILE).write_bytes(b"not a zip")
    with pytest.raises(StoreError, match="cannot read the checkpoint"):
        read_checkpoint(tmp_path)


def test_a_checkpoint_keeps_arrays_only_in_the_stages_memory(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"RunContext.memory\['center'\] is a dict"):
        write_checkpoint(tmp_path, _checkpoint(memory={"center": {}}))
    assert read_checkpoint(tmp_path) is None


def test_reconciling_drops_what_the_unfinished_round_wrote(tmp_path: Path) -> None:
    write_table_atomic(tmp_path / "rounds.parquet", [{"round": r, "accuracy": 0.1 * r} for r in (1, 2, 3)])
    write_table_atomic(tmp_path / "chain.parquet", [
        {"round": r, "contract": "L", "function": "f", "count": 1, "gas": 1, "seconds": 0.1, "calldata_bytes": 1,
         "log_bytes": 1, "new_slots": 0, "freed_slots": 0} for r in (-1, 1, 2, 3)
    ])  # fmt: skip
    for folder in ("hospitals.parquet", "votes.parquet"):
        (tmp_path / folder).mkdir()
        for r in (1, 2, 3):
            write_columns_atomic(tmp_path / folder / f"round-{r:06d}.parquet", {"round": np.full(2, r)})
    (tmp_path / "store" / "rounds").mkdir(parents=True)
    for name in ("round-000002.json", "round-000003.json", "round-000003.refs.json"):
        (tmp_path / "store" / "rounds" / name).write_text("{}")
    (tmp_path / ".rounds.parquet.tmp-123").write_bytes(b"half a table")

    rows, chain_rows = reconcile_run_dir(tmp_path, _checkpoint(round_=2))

    assert [r["round"] for r in rows] == [r["round"] for r in read_rows(tmp_path / "rounds.parquet")] == [1, 2]
    assert [r["round"] for r in chain_rows] == [r["round"] for r in read_rows(tmp_path / "chain.parquet")] == [-1, 1, 2]
    for folder in ("hospitals.parquet", "votes.parquet"):
        assert sorted(p.name for p in (tmp_path / folder).iterdir()) == ["round-000001.parquet", "round-000002.parquet"]
    assert [p.name for p in (tmp_path / "store" / "rounds").iterdir()] == ["round-000002.json"]
    assert not (tmp_path / ".rounds.parquet.tmp-123").exists()


def test_reconciling_refuses_a_table_that_lacks_a_checkpointed_round(tmp_path: Path) -> None:
    write_table_atomic(tmp_path / "rounds.parquet", [{"round": 1}])
    with pytest.raises(StoreError, match=r"rounds.parquet has rounds \[1\] up to the checkpoint's round 2"):
        reconcile_run_dir(tmp_path, _checkpoint(round_=2))


def test_one_process_at_a_time_holds_a_run_directory(tmp_path: Path) -> None:
    with hold_run_lock(tmp_path):
        with pytest.raises(StoreError, match=r"in use by another bflray process \(pid \d+\)"), hold_run_lock(tmp_path):
            pass
    with hold_run_lock(tmp_path):  # released when its holder is done
        pass
