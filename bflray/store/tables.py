"""Run tables as Parquet, written to a temporary name and renamed, so a crash mid-write
never leaves an unreadable table."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


def write_arrow_atomic(path: str | Path, table: pa.Table) -> Path:
    """Write an Arrow table as a Parquet file at ``path``, atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path


def write_table_atomic(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write ``rows`` (dicts with the same keys) as a Parquet file at ``path``, atomically."""
    return write_arrow_atomic(path, pa.Table.from_pylist(list(rows)))


def write_columns_atomic(path: str | Path, columns: Mapping[str, Any]) -> Path:
    """Write equal-length columns (arrays) as a Parquet file at ``path``, atomically."""
    return write_arrow_atomic(path, pa.table({name: pa.array(values) for name, values in columns.items()}))


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a Parquet table as dicts."""
    rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    return rows
