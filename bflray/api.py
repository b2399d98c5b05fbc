"""``bflray.run(config)``: one experiment, start to finish, into its own run directory."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from bflray.chain import Chain, anvil_version, artifact_versions
from bflray.chain.binding import rpc_for
from bflray.chain.meter import ChainMeter
from bflray.config import Config
from bflray.data.federated import prepare_federated_data
from bflray.por.setup import prepare_encoders
from bflray.metrics import RunMetrics, publish_target
from bflray.models.factory import build_model_spec
from bflray.protocol.backend import Backend, create_backend, shard_ranges
from bflray.protocol.round import RoundPipeline, hospital_rows
from bflray.privacy import BudgetExhausted
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
from bflray.rundir import collect_versions, create_run_dir, write_json
from bflray.seeding import FEDERATION, Purpose, derive_rng
from bflray.store import BlobStore, write_columns_atomic, write_table_atomic

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
    with _run_log(run_dir), ExitStack() as stack:
        log.info("run directory: %s", run_dir)
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
        chain = stack.enter_context(Chain.open(config.chain, log_path=run_dir / "anvil.log"))
        write_json(
            run_dir / "chain.json",
            {"url": chain.url, "addresses": chain.addresses, "anvil_pid": chain.node.pid if chain.node else None},
        )
        write_json(run_dir / "versions.json", _versions(config))

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
        hosts.launch(config, ranges)
        secure = secure_aggregation(config, hosts, spec.size)
        actor_counts = {"hospital_block": len(ranges), "aggregation_node": len(secure.nodes) if secure else 0}
        metrics.observe_run(hospitals=config.federation.hospitals, actors=actor_counts)
        if config.experiment.pipeline == "por":
            prepare_encoders(
                config, data, hosts, run_dir=run_dir, cache_dir=run_dir.parent / ".cache" / "encoders", progress=progress
            )
        log.info("%d hospitals in %d blocks on the %s backend", config.federation.hospitals, len(ranges), hosts.name)

        flock = config.experiment.pipeline == "flock"
        federation = deploy_for_pipeline(chain, config)
        meter = federation.meter if federation is not None and federation.meter is not None else None
        meter = meter or ChainMeter(rpc_for(chain.url))  # other pipelines meter the ledger alone
        if federation is None:
            chain.ledger.meter = meter
        meter.on_record = metrics.observe_transaction
        chain_rows: list[dict[str, Any]] = meter.drain(-1)
        metrics.observe_chain_rows(chain_rows)
        if flock:
            (run_dir / "votes.parquet").mkdir()
        validation, test = split_validation(config, data.test)
        ctx = RunContext(
            config=config,
            backend=hosts,
            ledger=chain.ledger,
            store=BlobStore(run_dir / "store"),
            metrics=metrics,
            model=spec,
            test_set=HeldOutSet(dataset.features[test], dataset.labels[test]),
            federation=federation,
            secure=secure,
            accountant=privacy_accountant(config, federation),
            validation_set=HeldOutSet(dataset.features[validation], dataset.labels[validation]) if len(validation) else None,
            validators=chain_validators(config, hosts, run_dir / "store", spec),
        )
        pipeline = RoundPipeline(ctx)
        log.info("round stages: %s", " → ".join(pipeline.stage_names))
        params = spec.init(derive_rng(config.experiment.seed, 0, FEDERATION, Purpose.INIT))
        rows: list[dict[str, Any]] = []
        started = time.perf_counter()
        bar = tqdm(
            range(1, config.experiment.rounds + 1), desc="rounds", unit="round",
            disable=not progress, file=sys.stderr, dynamic_ncols=True,
        )
        (run_dir / "hospitals.parquet").mkdir()
        stopped: dict[str, Any] | None = None
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
            pq.write_table(meter.table(chain_rows), run_dir / "chain.parquet")
            if flock:
                write_columns_atomic(run_dir / "votes.parquet" / f"round-{round_:06d}.parquet", flock_rows(state, config))
            if ctx.accountant is not None:
                write_json(run_dir / "privacy.json", privacy_state(ctx.accountant, config))
            bar.set_postfix(acc=f"{row['accuracy']:.3f}", loss=f"{row['loss']:.3f}")
            log.debug("round %d: %s", round_, row)
        bar.close()
        np.savez(run_dir / "model.npz", params=params)
        if flock:
            plot_flock(rows, run_dir)
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
                "seconds": time.perf_counter() - started,
                "gas_used": sum(r["gas_used"] for r in rows),
                "onchain_bytes": sum(r["onchain_bytes"] for r in rows),
                "model": {"kind": config.model.name, "parameters": spec.size},
            },
        )
        if rows:
            log.info("final accuracy %.4f after %d rounds", rows[-1]["accuracy"], len(rows))
        if config.metrics.enabled and config.metrics.linger_s:
            time.sleep(config.metrics.linger_s)  # the endpoint stays up for a last scrape
    return RunResult(run_dir=run_dir, rounds=rows, final_params=params)


def _versions(config: Config) -> dict[str, Any]:
    extra: dict[str, Any] = {"contracts": artifact_versions()}
    if not config.chain.url:
        extra["anvil"] = anvil_version()
    return collect_versions(extra)


@contextmanager
def _run_log(run_dir: Path) -> Iterator[None]:
    """Everything the ``bflray`` logger says during the run also goes to ``run.log``."""
    handler = logging.FileHandler(run_dir / "run.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.DEBUG)
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
