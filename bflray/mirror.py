"""Mirror a run directory to any pyarrow filesystem URI (``s3://``, ``gs://``, ``hdfs://``,
``file://``), so a job's outputs survive the job's machines.

Object stores have no atomic rename, so the mirror copies finished files only: the run
writes every file under a temporary name and renames it into place (``*.tmp-*``), and the
mirror skips temporary names and copies a file again only when its size or modification
time changed since the last copy. A file is written to the mirror under its final name in
one ``open_output_stream``, which object stores publish whole or not at all.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pyarrow.fs as pafs

from bflray.errors import StoreError

log = logging.getLogger("bflray")

_CHUNK = 8 << 20


class RunMirror:
    """Copies a run directory's finished files to ``uri``/``<run name>/``, incrementally."""

    def __init__(self, uri: str, run_dir: Path) -> None:
        try:
            self.fs, base = pafs.FileSystem.from_uri(uri)
        except (ValueError, OSError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise StoreError(f"experiment.mirror_uri = {uri!r}: pyarrow cannot open it: {exc}") from exc
        self.uri = uri.rstrip("/") + "/" + run_dir.name
        self.root = base.rstrip("/") + "/" + run_dir.name
        self.run_dir = run_dir
        self._copied: dict[str, tuple[int, int]] = {}
        self._made: set[str] = set()  # folders already created there (one call each, not one per file)

    def sync(self) -> int:
        """Copy what is new or changed since the last call; the number of files copied."""
        copied = 0
        try:
            self._make_dir(self.root)
            for path in sorted(self.run_dir.rglob("*")):
                if not path.is_file() or ".tmp-" in path.name:
                    continue
                try:
                    stat = path.stat()
                except FileNotFoundError:  # replaced or pruned while we looked
                    continue
                rel = path.relative_to(self.run_dir).as_posix()
                key = (stat.st_size, stat.st_mtime_ns)
                if self._copied.get(rel) == key:
                    continue
                self._copy(path, rel)
                self._copied[rel] = key
                copied += 1
            for rel in [r for r in self._copied if not (self.run_dir / r).exists()]:  # pruned locally: prune there
                self.fs.delete_file(f"{self.root}/{rel}")
                del self._copied[rel]
        except OSError as exc:
            raise StoreError(f"mirroring {self.run_dir} to {self.uri} failed: {exc}") from exc
        return copied

    def _copy(self, path: Path, rel: str) -> None:
        parent = os.path.dirname(rel)
        if parent:
            self._make_dir(f"{self.root}/{parent}")
        with path.open("rb") as src, self.fs.open_output_stream(f"{self.root}/{rel}") as dst:
            while chunk := src.read(_CHUNK):
                dst.write(chunk)

    def _make_dir(self, path: str) -> None:
        if path not in self._made:
            self.fs.create_dir(path, recursive=True)
            self._made.add(path)
