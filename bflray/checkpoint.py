"""A run's checkpoint: what a resumed run needs to continue after its last finalized round.

One file, ``RUN_DIR/checkpoint.npz``, written after the chain is set up (round 0) and after
every round once that round's tables are written, to a temporary name and renamed over the
previous one: there is only ever the latest, and never a half-written one. It holds

- ``params``: the global model after the round;
- ``memory.<name>``: what the stages carry from one round to the next
  (:attr:`~bflray.protocol.state.RunContext.memory`), arrays only;
- ``chain_state``: the whole chain of the anvil bflray started (``anvil_dumpState``:
  accounts, storage, blocks and transactions, gzip-compressed JSON), absent for an external
  node;
- ``meta``: JSON with the round, the model's hash, the chain's URL and contract addresses,
  the accounts given ether, the privacy accountant's ledger, the seconds the rounds took so
  far and the rounds the run was resumed from.

Nothing else is needed: every random draw derives from ``(seed, round, hospital, purpose)``
(:mod:`bflray.seeding`), and hospitals keep no state between rounds.

A finished run keeps its last checkpoint: its chain state is the run's final chain, which
``start_anvil(config.chain, state=...)`` brings back for inspection.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from eth_hash.auto import keccak

from bflray.errors import StoreError

__all__ = ["CHECKPOINT_FILE", "Checkpoint", "model_hash", "read_checkpoint", "write_checkpoint"]

CHECKPOINT_FILE = "checkpoint.npz"
_FORMAT = 1
_MEMORY = "memory."


def model_hash(params: np.ndarray) -> str:
    """``0x`` + keccak256 of the model's canonical bytes (little-endian float32), as ``rounds.parquet`` has it."""
    return "0x" + keccak(np.ascontiguousarray(params, dtype="<f4").tobytes()).hex()


@dataclass(frozen=True)
class Checkpoint:
    """The state of a run after round ``round`` (0: after setup, before any round).

    Attributes
    ----------
    params:
        The global model.
    memory:
        What the stages carry to the next round, by name.
    chain_state:
        The chain of the anvil bflray started (gzip JSON), or ``None`` for an external node.
    chain:
        ``url``, ``addresses`` (by contract name), ``funded`` (accounts given ether), ``block``.
    accountant:
        The privacy accountant's :meth:`~bflray.privacy.PrivacyAccountant.to_dict`, if any.
    seconds:
        Wall time the rounds took so far, over every part of a resumed run.
    resumed_from:
        The round each earlier resumption continued from.
    """

    round: int
    params: np.ndarray
    chain: Mapping[str, Any]
    memory: Mapping[str, np.ndarray] = field(default_factory=dict)
    chain_state: bytes | None = None
    accountant: Mapping[str, Any] | None = None
    seconds: float = 0.0
    resumed_from: tuple[int, ...] = ()

    @property
    def model_hash(self) -> str:
        return model_hash(self.params)

    @property
    def addresses(self) -> dict[str, str]:
        return dict(self.chain.get("addresses", {}))


def write_checkpoint(run_dir: Path, checkpoint: Checkpoint) -> Path:
    """Write ``checkpoint`` into ``run_dir`` atomically (temporary name, fsync, rename)."""
    arrays: dict[str, np.ndarray] = {"params": np.asarray(checkpoint.params)}
    for name, value in checkpoint.memory.items():
        if value is None:
            continue
        if not isinstance(value, np.ndarray):
            raise TypeError(f"RunContext.memory[{name!r}] is a {type(value).__name__}: a checkpoint keeps arrays only")
        arrays[_MEMORY + name] = value
    if checkpoint.chain_state is not None:
        arrays["chain_state"] = np.frombuffer(checkpoint.chain_state, dtype=np.uint8)
    meta = {
        "format": _FORMAT,
        "round": checkpoint.round,
        "model_hash": checkpoint.model_hash,
        "chain": dict(checkpoint.chain),
        "accountant": checkpoint.accountant,
        "seconds": checkpoint.seconds,
        "resumed_from": list(checkpoint.resumed_from),
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    path = run_dir / CHECKPOINT_FILE
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("wb") as out:
            np.savez(out, **arrays)  # type: ignore[arg-type]
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise StoreError(f"cannot write the checkpoint {path}: {exc}") from exc
    return path


def read_checkpoint(run_dir: Path) -> Checkpoint | None:
    """The checkpoint in ``run_dir``, ``None`` if it has none.

    Raises
    ------
    StoreError
        If the file is there but cannot be read, or has another format.
    """
    path = run_dir / CHECKPOINT_FILE
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            params = np.array(data["params"])
            memory = {k.removeprefix(_MEMORY): np.array(data[k]) for k in data.files if k.startswith(_MEMORY)}
            state = bytes(data["chain_state"]) if "chain_state" in data.files else None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise StoreError(f"cannot read the checkpoint {path}: {exc}") from exc
    if meta.get("format") != _FORMAT:
        raise StoreError(f"the checkpoint {path} has format {meta.get('format')!r}; this bflray reads format {_FORMAT}")
    checkpoint = Checkpoint(
        round=int(meta["round"]), params=params, chain=meta["chain"], memory=memory, chain_state=state,
        accountant=meta.get("accountant"), seconds=float(meta.get("seconds", 0.0)),
        resumed_from=tuple(int(r) for r in meta.get("resumed_from", ())),
    )
    if checkpoint.model_hash != meta["model_hash"]:
        raise StoreError(f"the checkpoint {path} is corrupt: its model does not hash to {meta['model_hash']}")
    return checkpoint
