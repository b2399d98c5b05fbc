"""``bflray.run(config)``: one experiment, start to finish, into its own run directory;
:func:`resume`: the rest of a run that stopped before it finished.

Once the chain is set up, and after every round once the round's tables are written, the run
saves a checkpoint (:mod:`bflray.checkpoint`). If anvil dies or the driver is killed, the run
directory keeps its last finalized round, and ``bflray run --resume RUN_DIR`` continues from
there (:mod:`bflray.resume`). Every table is written to a temporary name and renamed, so a
kill never leaves one unreadable.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from bflray.chain import Chain, anvil_version, artifact_versions
from bflray.chain.attach import funded_accounts, ledger_address
from bflray.chain.binding import rpc_for
from bflray.chain.meter import ChainMeter
from bflray.checkpoint import Checkpoint, write_checkpoint
from bflray.config import Config
from bflray.data.federated import prepare_federated_data
from bflray.por.setup import prepare_encoders
from bflray.metrics import RunMetrics, publish_target
from bflray.models.factory import build_model_spec
from bflray.protocol.backend import Backend, create_backend, shard_ranges
from bflray.protocol.round import RoundPipeline, hospital_rows
from bflray.privacy import BudgetExhausted, PrivacyAccountant
from bflray.protocol.setup import (
    chain_validators,
    deploy_for_pipeline,
    privacy_accountant,
    privacy_state,
    secure_aggregation,
    split_validation,
)
from bflray.protocol.stages.voting import flock_rows
from bflray.protocol.state import HeldOutSet, RunContext
from bflray.report import SCHEMA_VERSION, plot_flock
from bflray.resume import (
    ResumeRefused,
    attach_for_pipeline,
    check_chain,
    explain_chain_loss,
    inspect_run,
    reconcile_run_dir,
    warn_if_code_changed,
)
from bflray.run_outputs import open_mirror, prune_store, record_faults, record_placement, sync_mirror
from bflray.rundir import collect_versions, create_run_dir, hold_run_lock, write_json
from bflray.seeding import FEDERATION, Purpose, derive_rng
from bflray.store import BlobStore, write_arrow_atomic, write_columns_atomic, write_table_atomic

log = logging.getLogger("bflray")


@dataclass(frozen=True)
class RunResult:
    """Where a run wrote its outputs, its per-round records and its final global model."""

    run_dir: Path
    rounds: list[dict[str, Any]]
    final_params: np.ndarray

    @property
    def final_accuracy(self) -> float:
        return float(self.rounds[-1]["accuracy"])


def run(
    config: Config,
    *,
    out_dir: str | Path | None = None,
    backend: Backend | None = None,
    progress: bool = True,
) -> RunResult:
    """Run the experiment ``config`` describes and return its results.

    Parameters
    ----------
    out_dir:
        Parent of the run directory; defaults to ``experiment.out_dir``.
    backend:
        Where the hospital blocks live; defaults to the one ``runtime.backend`` names.
    progress:
        Show a progress bar over rounds on stderr.
    """
    run_dir = create_run_dir(config, out_dir)
    with hold_run_lock(run_dir):
        return _execute(config, run_dir, None, backend=backend, progress=progress)


def resume(run_dir: str | Path, *, backend: Backend | None = None, progress: bool = True) -> RunResult:
    """Continue the unfinished run in ``run_dir`` from its last checkpoint (see :mod:`bflray.resume`).

    Raises
    ------
    ResumeRefused
        If the run finished, has no checkpoint, or its chain does not end at the checkpoint.
    StoreError
        If another process is writing the run.
    """
    run_dir = Path(run_dir)
    inspect_run(run_dir)  # refuse a finished run before touching its directory, even its lock file
    with hold_run_lock(run_dir):
        config, checkpoint = inspect_run(run_dir)  # again: nobody else writes the run now
        return _execute(config, run_dir, checkpoint, backend=backend, progress=progress)


def _execute(
    config: Config, run_dir: Path, checkpoint: Checkpoint | None, *, backend: Backend | None, progress: bool
) -> RunResult:
    """The run in ``run_dir``: from the start, or after ``checkpoint``'s round."""
    with _run_log(run_dir), ExitStack() as stack:
        rows: list[dict[str, Any]] = []
        chain_rows: list[dict[str, Any]] = []
        if checkpoint is None:
            log.info("run directory: %s", run_dir)
        else:
            log.info("resuming %s after round %d", run_dir, checkpoint.round)
            rows, chain_rows = reconcile_run_dir(run_dir, checkpoint)
        metrics = stack.enter_context(RunMetrics())
        if config.metrics.enabled:
            port = metrics.serve(config.metrics.host, config.metrics.port)
            url = f"http://{config.metrics.host}:{port}/metrics"
            write_json(run_dir / "metrics.json", {"host": config.metrics.host, "port": port, "url": url})
            log.info("metrics: %s", url)
            sd_dir = Path(config.metrics.sd_dir) if config.metrics.sd_dir else run_dir.parent / "prometheus-targets"
            labels = {"run": run_dir.name, "pipeline": config.experiment.pipeline,
                      "hospitals": str(config.federation.hospitals)}
            stack.enter_context(publish_target(run_dir, sd_dir, host=config.metrics.host, port=port, labels=labels))
        chain = stack.enter_context(_open_chain(config, run_dir, checkpoint))
        _write_chain_json(run_dir, chain, chain.addresses)
        if checkpoint is None:
            write_json(run_dir / "versions.json", _versions(config))
        else:
            warn_if_code_changed(run_dir, _versions(config))

        data = prepare_federated_data(config)
        write_json(run_dir / "data.json", data.describe())
        if data.loaded.fallback_reason:
            log.warning("%s", data.loaded.fallback_reason)
        dataset = data.dataset
        spec = build_model_spec(config, dataset)

        hosts = backend if backend is not None else create_backend(config)
        stack.callback(hosts.close)
        ranges = shard_ranges(
            config.federation.hospitals,
            hospitals_per_actor=config.runtime.hospitals_per_actor,
            capacity=hosts.capacity(),
        )
        hosts.launch(config, ranges, data.workload)
        secure = secure_aggregation(config, hosts, spec.size)
        actor_counts = {"hospital_block": len(ranges), "aggregation_node": len(secure.nodes) if secure else 0}
        metrics.observe_run(hospitals=config.federation.hospitals, actors=actor_counts)
        if config.experiment.pipeline == "por":
            prepare_encoders(
                config, data, hosts, run_dir=run_dir, cache_dir=run_dir.parent / ".cache" / "encoders", progress=progress
            )
        log.info("%d hospitals in %d blocks on the %s backend", config.federation.hospitals, len(ranges), hosts.name)

        flock = config.experiment.pipeline == "flock"
        if checkpoint is None:
            federation = deploy_for_pipeline(chain, config)
        else:
            federation = attach_for_pipeline(chain, config, checkpoint)
        addresses = {**chain.addresses, **(federation.addresses if federation is not None else {})}
        _write_chain_json(run_dir, chain, addresses)
        meter = federation.meter if federation is not None and federation.meter is not None else None
        meter = meter or ChainMeter(rpc_for(chain.url))  # other pipelines meter the ledger alone
        if federation is None:
            chain.ledger.meter = meter
        meter.on_record = metrics.observe_transaction
        chain_rows += meter.drain(-1)
        metrics.observe_chain_rows(chain_rows)
        if flock:
            (run_dir / "votes.parquet").mkdir(exist_ok=True)
        validation, test = split_validation(config, data.test)
        ctx = RunContext(
            config=config,
            backend=hosts,
            ledger=chain.ledger,
            store=BlobStore(run_dir / "store"),
            metrics=metrics,
            model=spec,
            test_set=HeldOutSet(dataset.features[test], dataset.labels[test], image_shape=dataset.image_shape),
            federation=federation,
            secure=secure,
            accountant=_accountant(config, federation, checkpoint),
            validation_set=HeldOutSet(dataset.features[validation], dataset.labels[validation]) if len(validation) else None,
            validators=chain_validators(config, hosts, run_dir / "store", spec),
        )
        record_placement(run_dir, hosts)  # shards, aggregation nodes and validators are all up now
        pipeline = RoundPipeline(ctx)
        log.info("round stages: %s", " → ".join(pipeline.stage_names))
        (run_dir / "hospitals.parquet").mkdir(exist_ok=True)
        mirror = open_mirror(config, run_dir)
        resumed_from: tuple[int, ...] = ()
        if checkpoint is None:
            params = spec.init(derive_rng(config.experiment.seed, 0, FEDERATION, Purpose.INIT))
            done, earlier_seconds = 0, 0.0
        else:
            params = checkpoint.params
            ctx.memory.update(checkpoint.memory)
            done, earlier_seconds = checkpoint.round, checkpoint.seconds
            resumed_from = (*checkpoint.resumed_from, checkpoint.round)
        started = time.perf_counter()

        def save(round_: int, params: np.ndarray) -> None:
            _save_checkpoint(
                run_dir, round_, params, ctx=ctx, chain=chain, addresses=addresses, federation=federation,
                seconds=earlier_seconds + time.perf_counter() - started, resumed_from=resumed_from,
            )

        if checkpoint is None:
            write_arrow_atomic(run_dir / "chain.parquet", meter.table(chain_rows))
            save(0, params)
        bar = tqdm(
            range(done + 1, config.experiment.rounds + 1), desc="rounds", unit="round", total=config.experiment.rounds,
            initial=done, disable=not progress, file=sys.stderr, dynamic_ncols=True,
        )
        stopped: dict[str, Any] | None = None
        round_ = kept = done
        try:
            for round_ in bar:
                meter.begin_round(round_)
                try:
                    state, row = pipeline.run_round(round_, params)
                except BudgetExhausted as exc:  # raised before the round did anything: stop cleanly
                    stopped = {"reason": "privacy budget exhausted", "round": round_, "detail": str(exc)}
                    log.warning("stopping before round %d: %s", round_, exc)
                    break
                params = state.global_params
                rows.append(row)
                write_columns_atomic(run_dir / "hospitals.parquet" / f"round-{round_:06d}.parquet", hospital_rows(state))
                write_table_atomic(run_dir / "rounds.parquet", rows)
                round_chain_rows = meter.drain(round_)
                metrics.observe_chain_rows(round_chain_rows, round_=round_)
                chain_rows += round_chain_rows
                write_arrow_atomic(run_dir / "chain.parquet", meter.table(chain_rows))
                if flock:
                    write_columns_atomic(run_dir / "votes.parquet" / f"round-{round_:06d}.parquet", flock_rows(state, config))
                if ctx.accountant is not None:
                    write_json(run_dir / "privacy.json", privacy_state(ctx.accountant, config))
                record_faults(run_dir, state, hosts)
                prune_store(ctx.store, config, round_)
                save(round_, params)  # the round is finalized on chain and written off chain: a resume starts after it
                sync_mirror(mirror)
                kept = round_
                bar.set_postfix(acc=f"{row['accuracy']:.3f}", loss=f"{row['loss']:.3f}")
                log.debug("round %d: %s", round_, row)
            bar.close()
            _save_npz_atomic(run_dir / "model.npz", params=params)
            if flock:
                plot_flock(rows, run_dir)
        except BaseException as exc:
            lost = explain_chain_loss(chain, exc, round_=round_, kept=kept, run_dir=run_dir)
            if lost is not None:
                raise lost from exc
            log.warning("the run stopped; its directory keeps round %d: `bflray run --resume %s` continues it",
                        kept, run_dir)
            raise
        write_json(
            run_dir / "summary.json",
            {
                "schema_version": SCHEMA_VERSION,
                "pipeline": config.experiment.pipeline,
                "hospitals": config.federation.hospitals,
                "rounds": len(rows),
                "stopped": stopped,
                "final_accuracy": rows[-1]["accuracy"] if rows else None,
                "final_loss": rows[-1]["loss"] if rows else None,
                "final_model_hash": rows[-1]["model_hash"] if rows else None,
                "privacy_epsilon": rows[-1].get("privacy_epsilon") if rows else None,
                "seconds": earlier_seconds + time.perf_counter() - started,
                "resumed_from": list(resumed_from),
                "gas_used": sum(r["gas_used"] for r in rows),
                "onchain_bytes": sum(r["onchain_bytes"] for r in rows),
                "model": {"kind": config.model.name, "parameters": spec.size},
            },
        )
        sync_mirror(mirror)  # the finished run, summary and model included
        if rows:
            log.info("final accuracy %.4f after %d rounds", rows[-1]["accuracy"], len(rows))
        if config.metrics.enabled and config.metrics.linger_s:
            time.sleep(config.metrics.linger_s)  # the endpoint stays up for a last scrape
    return RunResult(run_dir=run_dir, rounds=rows, final_params=params)


def _open_chain(config: Config, run_dir: Path, checkpoint: Checkpoint | None) -> Chain:
    """The run's chain: fresh, or, resuming, the checkpoint's chain (checked to end at its round)."""
    log_path = run_dir / "anvil.log"
    if checkpoint is None:
        return Chain.open(config.chain, log_path=log_path)
    if config.chain.url:
        log.warning(
            "chain.url is an external node (%s): bflray cannot restore its state, only attach to the run's "
            "contracts there if its ledger still ends at round %d", config.chain.url, checkpoint.round,
        )
    elif checkpoint.chain_state is None:
        raise ResumeRefused(f"the checkpoint in {str(run_dir)!r} holds no chain state to start anvil from")
    chain = Chain.open(
        config.chain, log_path=log_path, state=None if config.chain.url else checkpoint.chain_state,
        ledger_address=ledger_address(checkpoint.addresses),
    )
    try:
        check_chain(chain, checkpoint)
    except BaseException:
        chain.close()
        raise
    return chain


def _write_chain_json(run_dir: Path, chain: Chain, addresses: dict[str, str]) -> None:
    write_json(
        run_dir / "chain.json",
        {"url": chain.url, "addresses": addresses, "anvil_pid": chain.node.pid if chain.node else None},
    )


def _accountant(
    config: Config, federation: Any, checkpoint: Checkpoint | None
) -> tuple[PrivacyAccountant, Any] | None:
    """The run's privacy accountant and budget; resuming, with the checkpoint's ledger of charges."""
    made = privacy_accountant(config, federation)
    if made is None or checkpoint is None or checkpoint.accountant is None:
        return made
    return PrivacyAccountant.from_dict(dict(checkpoint.accountant)), made[1]


def _save_checkpoint(
    run_dir: Path, round_: int, params: np.ndarray, *, ctx: RunContext, chain: Chain, addresses: dict[str, str],
    federation: Any, seconds: float, resumed_from: tuple[int, ...],
) -> None:
    started = time.perf_counter()
    chain_meta = {
        "url": chain.url,
        "addresses": addresses,
        "funded": funded_accounts(federation) if federation is not None else [],
        "block": int(chain.web3.eth.block_number),
    }
    path = write_checkpoint(
        run_dir,
        Checkpoint(
            round=round_, params=np.asarray(params), chain=chain_meta, memory=dict(ctx.memory),
            chain_state=chain.node.dump_state() if chain.node is not None else None,
            accountant=ctx.accountant[0].to_dict() if ctx.accountant is not None else None,
            seconds=seconds, resumed_from=resumed_from,
        ),
    )
    seconds_taken = time.perf_counter() - started
    log.debug("checkpoint after round %d: %d bytes in %.3f s", round_, path.stat().st_size, seconds_taken)


def _save_npz_atomic(path: Path, **arrays: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("wb") as out:
        np.savez(out, **arrays)  # type: ignore[arg-type]
    os.replace(tmp, path)


def _versions(config: Config) -> dict[str, Any]:
    extra: dict[str, Any] = {"contracts": artifact_versions()}
    if not config.chain.url:
        extra["anvil"] = anvil_version()
    return collect_versions(extra)


@contextmanager
def _run_log(run_dir: Path) -> Iterator[None]:
    """Everything the ``bflray`` logger says during the run also goes to ``run.log``.

    The logger is lowered to DEBUG for the file, so a root handler without a level would print
    every DEBUG line on stderr; a library's module-level ``logging.warning`` (dp-accounting's)
    installs just such a handler when the root has none. So while the run lasts the root gets
    a stderr handler at WARNING when it has none: what Python's last resort would print, no more."""
    handler = logging.FileHandler(run_dir / "run.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    guard = None
    if not root.handlers:
        guard = logging.StreamHandler()
        guard.setLevel(logging.WARNING)
        root.addHandler(guard)
    previous = log.level
    log.addHandler(handler)
    if log.level == logging.NOTSET or log.level > logging.DEBUG:
        log.setLevel(logging.DEBUG)
    try:
        yield
    except BaseException:
        # The traceback goes to run.log only; the CLI prints the one-line reason.
        log.debug("run failed", exc_info=True)
        raise
    finally:
        log.removeHandler(handler)
        log.setLevel(previous)
        handler.close()
        if guard is not None:
            root.removeHandler(guard)
