"""``store.keep_rounds``: old rounds' payloads go, shared and recent ones stay, and the store
stops growing."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_hash.auto import keccak

from bflray.errors import StoreError
from bflray.store import BlobStore, RoundManifest


def _round(store: BlobStore, r: int, payloads: list[bytes], model: bytes) -> None:
    hashes = tuple(store.put(p) for p in payloads)
    store.put_manifest(RoundManifest(r, tuple(range(len(payloads))), hashes))
    store.put(model, round_=r)


def test_pruning_forgets_old_rounds_but_keeps_what_a_kept_round_still_lists(tmp_path: Path) -> None:
    # Prepare: three rounds; hospital 0 sends the same bytes in rounds 1 and 3 (a free rider)
    store = BlobStore(tmp_path)
    _round(store, 1, [b"same", b"r1-h1"], b"model-1")
    _round(store, 2, [b"r2-h0", b"r2-h1"], b"model-2")
    _round(store, 3, [b"same", b"r3-h1"], b"model-3")
    # Execute: keep the last two rounds
    freed = store.prune(keep_rounds=2, latest=3)
    # Assert: round 1's own payloads and model are gone, the shared payload stays
    assert freed == {"rounds": 1, "payloads": 2, "bytes": len(b"r1-h1") + len(b"model-1")}
    assert store.rounds() == [2, 3]
    assert store.get(store.put(b"same")) == b"same"
    for gone in (b"r1-h1", b"model-1"):
        with pytest.raises(StoreError, match="is not in the store"):
            store.get(keccak(gone))
    with pytest.raises(StoreError, match="round 1 has no manifest"):
        store.get_manifest(1)
    assert store.get_manifest(2).payload_hashes  # kept rounds are whole


def test_with_keep_rounds_the_store_stops_growing(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    sizes = []
    for r in range(1, 11):
        _round(store, r, [f"r{r:03d}-h{h}".encode() * 100 for h in range(5)], f"model-{r:03d}".encode() * 100)
        store.prune(keep_rounds=3, latest=r)
        sizes.append(store.disk_bytes())
    # From round 4 on three rounds are held: the size stays put (a manifest's round number may
    # gain a digit), where without pruning it would have grown by 7 rounds' payloads.
    assert max(sizes[3:]) - sizes[3] <= 8
    assert sizes[3] - sizes[2] <= 8
    assert store.rounds() == [8, 9, 10]


def test_keep_rounds_below_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="keep_rounds must be ≥ 1, got 0"):
        BlobStore(tmp_path).prune(keep_rounds=0, latest=5)
