"""The run-directory mirror copies finished files only, incrementally, and follows pruning."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bflray.errors import StoreError
from bflray.mirror import RunMirror


def test_mirror_copies_finished_files_once_and_follows_changes_and_deletions(tmp_path: Path) -> None:
    # Prepare: a run directory with a finished file, a nested one, and one still being written
    run_dir = tmp_path / "demo-1"
    (run_dir / "store" / "payloads").mkdir(parents=True)
    (run_dir / "rounds.parquet").write_bytes(b"round 1")
    (run_dir / "store" / "payloads" / "ab").write_bytes(b"payload")
    (run_dir / ".summary.json.tmp-123").write_bytes(b"half")
    mirror = RunMirror(f"file://{tmp_path / 'bucket'}", run_dir)
    # Execute / Assert: the first sync copies the two finished files, the temporary one never
    assert mirror.sync() == 2
    there = tmp_path / "bucket" / "demo-1"
    assert (there / "rounds.parquet").read_bytes() == b"round 1"
    assert (there / "store" / "payloads" / "ab").read_bytes() == b"payload"
    assert not list(there.glob(".*tmp-*"))
    assert mirror.sync() == 0  # nothing changed: nothing copied
    # A rewritten file is copied again; a pruned one goes from the mirror too
    (run_dir / "rounds.parquet").write_bytes(b"round 1, round 2")
    os.utime(run_dir / "rounds.parquet", ns=(1, 1))
    (run_dir / "store" / "payloads" / "ab").unlink()
    assert mirror.sync() == 1
    assert (there / "rounds.parquet").read_bytes() == b"round 1, round 2"
    assert not (there / "store" / "payloads" / "ab").exists()


def test_an_unusable_uri_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"experiment\.mirror_uri = 'nosuchscheme://x': pyarrow cannot open it"):
        RunMirror("nosuchscheme://x", tmp_path)
