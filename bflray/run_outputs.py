"""What a run writes beside its tables as it goes: where its shards run (``placement.json``),
the hosts that died (``faults.jsonl``), the store pruned to ``store.keep_rounds``, and the
mirror of the run directory (``experiment.mirror_uri``)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from bflray.config import Config
from bflray.mirror import RunMirror
from bflray.protocol.backend import Backend
from bflray.protocol.state import RoundState
from bflray.rundir import write_json, write_text_atomic
from bflray.store import BlobStore

log = logging.getLogger("bflray")

FAULTS_FILE = "faults.jsonl"


def record_placement(run_dir: Path, backend: Backend) -> None:
    """``placement.json``: each shard's hospitals and the node, address, pid and GPUs it runs on,
    and the node of each hosted role (aggregation nodes, chain validators)."""
    placed = backend.placement()
    shards, roles = placed["shards"], placed["roles"]
    nodes = sorted({str(s["node_id"]) for s in [*shards, *roles] if s.get("node_id")})
    write_json(run_dir / "placement.json", {"backend": backend.name, "nodes": len(nodes), **placed})
    if len(nodes) > 1:
        log.info("%d shards and %d roles on %d nodes", len(shards), len(roles), len(nodes))


def record_faults(run_dir: Path, state: RoundState, backend: Backend) -> None:
    """Add the round's host failures to ``faults.jsonl`` (one JSON object a line, rewritten
    whole: a line of this round or later left by an interrupted attempt is replaced)."""
    faults = [*state.faults, *backend.take_faults()]  # the train stage took its own; later stages' are here
    path = run_dir / FAULTS_FILE
    kept: list[str] = []
    if path.exists():
        kept = [line for line in path.read_text().splitlines()
                if line.strip() and (json.loads(line).get("round") or 0) < state.round]
    elif not faults:
        return
    lines = kept + [json.dumps(f, sort_keys=True) for f in faults]
    write_text_atomic(path, "".join(line + "\n" for line in lines))


def prune_store(store: BlobStore, config: Config, round_: int) -> None:
    """Drop the payloads of rounds older than ``store.keep_rounds`` (0 keeps all)."""
    keep = config.store.keep_rounds
    if keep <= 0:
        return
    freed = store.prune(keep_rounds=keep, latest=round_)
    if freed["rounds"]:
        log.debug("store: pruned %d round(s), %d payloads, %d bytes", freed["rounds"], freed["payloads"], freed["bytes"])


def open_mirror(config: Config, run_dir: Path) -> RunMirror | None:
    """The run directory's mirror, when ``experiment.mirror_uri`` names one."""
    uri = config.experiment.mirror_uri
    if not uri:
        return None
    mirror = RunMirror(uri, run_dir)
    log.info("mirroring the run directory to %s after every round", mirror.uri)
    return mirror


def sync_mirror(mirror: RunMirror | None) -> None:
    """Copy the run directory's new and changed files to the mirror, if the run has one."""
    if mirror is not None:
        mirror.sync()
