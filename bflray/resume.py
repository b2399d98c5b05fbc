"""Continue a run that stopped before it finished: ``bflray run --resume RUN_DIR``.

A run that lost its anvil, or whose driver was killed, keeps in its directory the checkpoint
of its last finalized round (:mod:`bflray.checkpoint`). Resuming it

1. refuses a run that finished (``summary.json`` is there: a finished run is never
   overwritten) and one without a checkpoint, each with one line that says so;
2. brings the run's tables back to the checkpoint's round (:func:`reconcile_run_dir`): rows
   and per-round files of a round that did not finish are dropped, temporary files of an
   interrupted write removed, so off-chain records end where the chain's do;
3. starts anvil from the checkpoint's chain state and attaches to the contracts deployed
   there, then checks on chain (:func:`check_chain`) that the ledger's last recorded round is
   the checkpoint's and carries its model hash: no round is ever recorded twice;
4. continues the rounds from the next one. Since every random draw derives from the run's
   seed and the round, the resumed run's records equal an uninterrupted run's.

With an external chain (``chain.url``) there is no saved state to load: bflray did not start
that node and cannot roll it back. Resuming then attaches to the contracts on that node and
continues only if its ledger still ends at the checkpoint's round; otherwise it refuses.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from bflray.chain.anvil import connect, describe_exit
from bflray.chain.attach import attach_federation
from bflray.chain.binding import rpc_for
from bflray.chain.client import Chain
from bflray.chain.federation import Federation
from bflray.chain.meter import ChainMeter
from bflray.checkpoint import Checkpoint, read_checkpoint
from bflray.config import Config, load_config
from bflray.errors import ChainError, ChainUnavailableError, ConfigError, StoreError
from bflray.protocol.setup import CHAIN_PIPELINES
from bflray.store import read_rows, write_arrow_atomic, write_table_atomic

__all__ = [
    "ResumeRefused", "attach_for_pipeline", "check_chain", "explain_chain_loss", "inspect_run", "reconcile_run_dir",
    "warn_if_code_changed",
]

log = logging.getLogger("bflray")

_ROUND_DIRS = ("hospitals.parquet", "votes.parquet", "store/rounds")
_NETWORK_LIBRARIES = ("web3", "requests", "urllib3")


class ResumeRefused(StoreError):
    """A run directory cannot be resumed (finished, no checkpoint, or its chain disagrees)."""


def inspect_run(run_dir: str | Path) -> tuple[Config, Checkpoint]:
    """The config and checkpoint of the unfinished run in ``run_dir``.

    Raises
    ------
    ResumeRefused
        If it is not a run directory, finished, or has no checkpoint.
    """
    run = Path(run_dir)
    if not (run / "config.toml").is_file():
        raise ResumeRefused(f"{str(run)!r} is not a run directory: no config.toml there")
    if (run / "summary.json").exists():
        raise ResumeRefused(
            f"the run in {str(run)!r} finished (summary.json is there); a finished run is never resumed or "
            "overwritten: start a new one with `bflray run`"
        )
    try:
        config = load_config(run / "config.toml")
    except ConfigError as exc:
        raise ResumeRefused(f"cannot resume {str(run)!r}: its config.toml is not valid: {exc}") from exc
    checkpoint = read_checkpoint(run)
    if checkpoint is None:
        raise ResumeRefused(
            f"the run in {str(run)!r} has no checkpoint (checkpoint.npz): it stopped before its chain was set up; "
            "start it again with `bflray run`"
        )
    if checkpoint.round > config.experiment.rounds:
        raise ResumeRefused(f"the checkpoint in {str(run)!r} is at round {checkpoint.round}, past the run's "
                            f"{config.experiment.rounds} rounds")
    return config, checkpoint


def reconcile_run_dir(run_dir: Path, checkpoint: Checkpoint) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Bring the run's tables back to the checkpoint's round; returns the rows of
    ``rounds.parquet`` and ``chain.parquet`` that stay.

    Raises
    ------
    ResumeRefused
        If ``rounds.parquet`` lacks a round the checkpoint has (the directory was edited).
    """
    k = checkpoint.round
    for folder in (run_dir, *(run_dir / d for d in _ROUND_DIRS)):
        for tmp in folder.glob(".*.tmp-*"):  # an interrupted write-then-rename
            tmp.unlink(missing_ok=True)
    rounds_path = run_dir / "rounds.parquet"
    rows = read_rows(rounds_path) if rounds_path.is_file() else []
    kept = [r for r in rows if int(r["round"]) <= k]
    if [int(r["round"]) for r in kept] != list(range(1, k + 1)):
        raise ResumeRefused(
            f"cannot resume {str(run_dir)!r}: rounds.parquet has rounds {[r['round'] for r in kept]} up to the "
            f"checkpoint's round {k}"
        )
    if len(kept) != len(rows):
        log.info("dropping the records of round(s) %s, which did not finish", [r["round"] for r in rows[len(kept):]])
        if kept:
            write_table_atomic(rounds_path, kept)
        else:
            rounds_path.unlink()
    chain_path = run_dir / "chain.parquet"
    chain_rows = [r for r in read_rows(chain_path) if int(r["round"]) <= k] if chain_path.is_file() else []
    if chain_path.is_file():
        write_arrow_atomic(chain_path, ChainMeter.table(chain_rows))
    for name in _ROUND_DIRS:
        for path in (run_dir / name).glob("round-*"):
            if _round_of(path) > k:
                path.unlink()
    return kept, chain_rows


def _round_of(path: Path) -> int:
    """The round of ``round-000012.parquet`` or ``round-000012.json``."""
    try:
        return int(path.name.split(".", 1)[0].removeprefix("round-"))
    except ValueError:
        return -1


def check_chain(chain: Chain, checkpoint: Checkpoint) -> None:
    """Check that the chain ends where the checkpoint does: its ledger's last recorded round is
    the checkpoint's round, with the checkpoint's model hash.

    Raises
    ------
    ResumeRefused
        If not; the message says what the chain holds and why the run cannot continue.
    """
    k = checkpoint.round
    where = f"the ledger at {chain.url}" + (" (an external node)" if chain.node is None else "")
    latest = chain.ledger.latest_round()
    if latest != (k or None):
        shown = "no round" if latest is None else f"up to round {latest}"
        why = (
            "an external node cannot be rolled back, so resuming would record a round twice"
            if latest is not None and latest > k
            else "it does not hold this run's chain"
        )
        raise ResumeRefused(f"{where} has recorded {shown}, the checkpoint is at round {k}: {why}")
    if chain.ledger.is_opened(k + 1):
        raise ResumeRefused(
            f"{where} has opened round {k + 1} after the checkpoint's round {k}: an external node cannot be rolled "
            "back, so resuming would open that round twice"
        )
    if k:
        on_chain = "0x" + chain.ledger.model_hash(k).hex()
        if on_chain != checkpoint.model_hash:
            raise ResumeRefused(
                f"round {k}'s model hash on chain ({on_chain}) is not the checkpoint's ({checkpoint.model_hash})"
            )


def attach_for_pipeline(chain: Chain, config: Config, checkpoint: Checkpoint) -> Federation | None:
    """The federation the pipeline deployed, attached again from the checkpoint's addresses
    (``None`` for pipelines that use the ledger alone); the counterpart of
    :func:`~bflray.protocol.setup.deploy_for_pipeline`."""
    if config.experiment.pipeline not in CHAIN_PIPELINES:
        return None
    try:
        return attach_federation(
            chain, checkpoint.addresses, hospitals=config.federation.hospitals, validators=config.voting.validators,
            funded=checkpoint.chain.get("funded", ()), meter=ChainMeter(rpc_for(chain.url)),
        )
    except ChainError as exc:
        raise ResumeRefused(f"cannot attach to the run's contracts on {chain.url}: {exc}") from exc


def warn_if_code_changed(run_dir: Path, now: dict[str, Any]) -> None:
    """Log a warning when the code that resumes differs from the code that started the run
    (its records would not be those of an uninterrupted run)."""
    try:
        before = json.loads((run_dir / "versions.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return
    for label, section, key in (("git commit", "git", "commit"), ("bflray version", "packages", "bflray")):
        old, new = (before.get(section) or {}).get(key), (now.get(section) or {}).get(key)
        if old != new:
            log.warning("resuming with %s %s; the run started with %s", label, new, old)


def explain_chain_loss(chain: Chain, exc: BaseException, *, round_: int, kept: int, run_dir: Path) -> ChainError | None:
    """The one clear error to raise when ``exc`` came from losing the chain node during round
    ``round_`` (the anvil bflray started exited, or an external node stopped answering), naming
    the node, how it ended and how to resume; ``None`` when the node is fine."""
    if not isinstance(exc, Exception):  # Ctrl-C, SIGTERM: the user stopped the run
        return None
    resume = f"the run directory keeps round {kept}: `bflray run --resume {run_dir}` continues it"
    node = chain.node
    if node is not None:
        status = node.exit_status(wait_s=1.0 if _from_the_network(exc) else 0.0)
        if status is None:
            return None
        return ChainUnavailableError(
            f"the anvil at {chain.url} (pid {node.pid}) {describe_exit(status)} during round {round_}; {resume}"
        )
    if not _from_the_network(exc):
        return None
    try:
        connect(chain.url, 2.0)
    except ChainError:
        return ChainUnavailableError(
            f"the chain node at {chain.url} stopped answering during round {round_}; bflray did not start it and "
            f"cannot restore it: once it is back with its state after round {kept}, {resume}"
        )
    return None


def _from_the_network(exc: BaseException) -> bool:
    """Whether ``exc``, or an exception it wraps, is a chain or connection error."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and not any(current is s for s in seen):
        if isinstance(current, ChainError | OSError) or type(current).__module__.split(".")[0] in _NETWORK_LIBRARIES:
            return True
        seen.append(current)
        current = current.__cause__ or current.__context__
    return False
