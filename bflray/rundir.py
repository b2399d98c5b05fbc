"""The run directory: ``<out_dir>/<name>-<UTC time>/``, everything needed to read or rerun a run.

A finished run is never overwritten: a name that already exists gets a numeric suffix, and
:func:`hold_run_lock` keeps two processes (a run and a ``--resume`` of it) out of one directory.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bflray.config import Config, dump_config
from bflray.errors import StoreError

_PACKAGES = ("bflray", "numpy", "torch", "ray", "web3", "pyarrow", "pydantic", "prometheus-client", "scikit-learn")


def create_run_dir(config: Config, out_dir: str | Path | None = None, *, now: datetime | None = None) -> Path:
    """Make a fresh run directory and write the resolved ``config.toml`` into it."""
    base = Path(out_dir if out_dir is not None else config.experiment.out_dir)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    stem = f"{config.experiment.name}-{stamp}"
    try:
        base.mkdir(parents=True, exist_ok=True)
        for attempt in range(1000):
            path = base / (stem if attempt == 0 else f"{stem}-{attempt}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            break
        else:
            raise StoreError(f"could not find a free run directory name for {stem!r} in {base}")
        write_text_atomic(path / "config.toml", dump_config(config))
    except OSError as exc:
        raise StoreError(f"cannot create a run directory under {str(base)!r}: {exc}") from exc
    return path


LOCK_FILE = ".bflray.lock"


@contextmanager
def hold_run_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir``'s lock while the block runs: one process at a time writes a run.

    An advisory ``flock`` on ``run_dir/.bflray.lock``; the kernel drops it when its holder
    exits, even by SIGKILL, so a dead run never keeps its directory locked.

    Raises
    ------
    StoreError
        If another process holds it (the message names that process).
    """
    path = run_dir / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"cannot lock the run directory {str(run_dir)!r}: {exc}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise StoreError(
                f"the run directory {str(run_dir)!r} is in use by another bflray process (pid {holder})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def bytes_under(path: Path) -> int:
    """Bytes of every file under ``path`` (files removed while it looks are skipped)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except FileNotFoundError:  # pruned or replaced meanwhile
                continue
    return total


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def collect_versions(extra: dict[str, str | None] | None = None) -> dict[str, Any]:
    """Versions of Python, the key packages, the chain tools, and the git commit of bflray."""
    packages: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": packages,
        "git": git_state(),
        **(extra or {}),
    }


def git_state() -> dict[str, Any] | None:
    """The commit (and whether the tree was dirty) of the checkout bflray runs from, if any."""
    repo = Path(__file__).resolve().parent.parent
    if not (repo / ".git").exists():
        return None
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit or None, "dirty": bool(dirty)}
