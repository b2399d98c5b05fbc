"""Off-chain store and atomic tables."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from bflray.errors import StoreError
from bflray.store import BlobStore, RoundManifest, read_rows, write_table_atomic


def test_blob_is_named_by_its_hash_and_detects_tampering(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    h = store.put(b"weights")
    assert store.get(h) == b"weights"
    assert store.path_of(h).name == h.hex()
    store.path_of(h).write_bytes(b"swapped")
    with pytest.raises(StoreError, match="does not match its hash"):
        store.get(h)


def test_manifest_round_trips(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    m = RoundManifest(3, (0, 5), (b"\x01" * 32, b"\x02" * 32))
    store.put_manifest(m)
    assert store.get_manifest(3) == m
    with pytest.raises(StoreError, match="round 4 has no manifest"):
        store.get_manifest(4)


def test_table_write_leaves_no_temporary_file_and_replaces_atomically(tmp_path: Path) -> None:
    path = tmp_path / "rounds.parquet"
    write_table_atomic(path, [{"round": 1, "accuracy": 0.5}])
    write_table_atomic(path, [{"round": 1, "accuracy": 0.5}, {"round": 2, "accuracy": 0.7}])
    assert read_rows(path)[-1] == {"round": 2, "accuracy": 0.7}
    assert [p.name for p in tmp_path.iterdir()] == ["rounds.parquet"]
    pq.read_table(path)  # readable
