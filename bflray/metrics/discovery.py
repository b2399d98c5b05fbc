"""Prometheus file-based service discovery: each run announces its endpoint in a JSON file.

A static scrape config (``cluster/prometheus.yml``) then finds runs on any port::

    [{"targets": ["127.0.0.1:PORT"], "labels": {"run": "...", "pipeline": "...", "hospitals": "..."}}]

The file goes into the run directory (``prometheus-target.json``) and into a shared folder
(``<name of the run>.json``) that Prometheus watches. When the run ends the shared file is
removed and the run directory's copy keeps its labels with an empty target list (valid file
SD: no target), so the record stays without pointing Prometheus at a closed port.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

__all__ = ["RUN_TARGET_FILE", "publish_target", "target_groups"]

RUN_TARGET_FILE = "prometheus-target.json"


def target_groups(host: str, port: int, labels: Mapping[str, str]) -> list[dict[str, object]]:
    """The file-SD content announcing ``host:port`` with ``labels`` (IPv6 hosts bracketed)."""
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return [{"targets": [address], "labels": dict(labels)}]


@contextmanager
def publish_target(
    run_dir: Path, shared_dir: Path | None, *, host: str, port: int, labels: Mapping[str, str]
) -> Iterator[list[Path]]:
    """Write the run's target file(s) for the duration of the block; yields their paths."""
    groups = target_groups(host, port, labels)
    own = run_dir / RUN_TARGET_FILE
    _write(own, groups)
    paths = [own]
    shared = None
    if shared_dir is not None:
        shared_dir.mkdir(parents=True, exist_ok=True)
        shared = shared_dir / f"{run_dir.name}.json"
        _write(shared, groups)
        paths.append(shared)
    try:
        yield paths
    finally:
        if shared is not None:
            shared.unlink(missing_ok=True)
        _write(own, [{"targets": [], "labels": {**labels, "finished": "true"}}])


def _write(path: Path, groups: list[dict[str, object]]) -> None:
    # Atomic: Prometheus watches the folder and must never read a half-written file.
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(groups, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
