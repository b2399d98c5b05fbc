"""Prometheus metrics of a run, served by the driver on a loopback port while the run lasts.

Each run has its own registry, so two runs in one process never mix their series. Names
follow ``bflray_<thing>_<unit>``; no label is ever per hospital: labels are a stage, a
contract function, a storage kind, a role or an honesty class, all small fixed sets.

What a finished round means for the metrics is decided in one place,
:meth:`RunMetrics.observe_round`, from the round's row of ``rounds.parquet``; chain
transactions arrive one by one through :meth:`RunMetrics.observe_transaction` (the chain
meter's hook) and storage-slot growth through :meth:`RunMetrics.observe_chain_rows`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Protocol

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
TX_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SLOT_BYTES = 32  # one EVM storage slot
STORAGE_KINDS = ("state", "calldata", "logs")
HONESTY = ("honest", "malicious")
# (record key, role label) of the round's participant counts.
PARTICIPANT_KEYS = (
    ("selected", "selected"), ("hospitals", "used"), ("dropped", "dropped"), ("late", "late"),
    ("proposers", "proposer"), ("voters", "voter"), ("removed", "removed_this_round"),
)


class _Receipt(Protocol):
    @property
    def gas_used(self) -> int: ...


class Transaction(Protocol):
    """What :meth:`RunMetrics.observe_transaction` reads of a metered transaction
    (:class:`bflray.chain.meter.TxRecord` has it)."""

    @property
    def contract(self) -> str: ...

    @property
    def function(self) -> str: ...

    @property
    def receipt(self) -> _Receipt: ...

    @property
    def seconds(self) -> float: ...


class RunMetrics:
    """The metric families of one run and, once :meth:`serve` is called, their endpoint."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # latency
        self.stage_seconds = Histogram(
            "bflray_stage_duration_seconds", "Duration of one round stage.", ["stage"],
            buckets=STAGE_BUCKETS, registry=r,
        )
        self.round_seconds = Histogram(
            "bflray_round_duration_seconds", "Duration of one whole round.", buckets=STAGE_BUCKETS, registry=r
        )
        self.rounds = Counter("bflray_rounds_total", "Rounds completed.", registry=r)
        self.round = Gauge("bflray_round", "Number of the latest completed round.", registry=r)
        # chain
        self.gas = Counter("bflray_gas_used_total", "Gas used by the rounds' transactions.", registry=r)
        self.tx_seconds = Histogram(
            "bflray_chain_transaction_duration_seconds", "Time to send one transaction and get its receipt.",
            ["contract", "function"], buckets=TX_BUCKETS, registry=r,
        )
        self.tx_gas = Counter(
            "bflray_chain_gas_used_total", "Gas used, by contract function.", ["contract", "function"], registry=r
        )
        self.tx_count = Counter(
            "bflray_chain_transactions_total", "Transactions mined, by contract function.", ["contract", "function"],
            registry=r,
        )
        # storage
        self.onchain_bytes = Counter(
            "bflray_onchain_bytes_total", "Calldata and log bytes the rounds put on chain.", registry=r
        )
        self.offchain_bytes = Counter(
            "bflray_offchain_bytes_total", "Payload bytes the rounds put in the off-chain store.", registry=r
        )
        self.onchain_storage = Gauge(
            "bflray_onchain_storage_bytes",
            "On-chain bytes so far: state (net new storage slots × 32), calldata, logs.", ["kind"], registry=r,
        )
        self.onchain_round = Gauge(
            "bflray_onchain_round_bytes", "On-chain bytes added by the latest round, by kind.", ["kind"], registry=r
        )
        self.offchain_storage = Gauge(
            "bflray_offchain_storage_bytes", "Off-chain payload bytes stored so far.", registry=r
        )
        self.offchain_round = Gauge(
            "bflray_offchain_round_bytes", "Off-chain payload bytes added by the latest round.", registry=r
        )
        # model quality and attacks
        self.accuracy = Gauge("bflray_accuracy_ratio", "Test accuracy of the latest global model.", registry=r)
        self.loss = Gauge("bflray_loss", "Test loss of the latest global model.", registry=r)
        self.train_loss = Gauge("bflray_train_loss", "Mean local training loss of the latest round.", registry=r)
        self.attack_success = Gauge(
            "bflray_attack_success_ratio", "Attack success rate measured on the latest global model.", registry=r
        )
        self.privacy_epsilon = Gauge(
            "bflray_privacy_epsilon", "Differential-privacy budget ε spent so far.", registry=r
        )
        # hospitals, actors, tokens
        self.hospitals = Gauge("bflray_hospitals", "Hospitals whose updates the latest round used.", registry=r)
        self.federation_size = Gauge("bflray_federation_hospitals", "Hospitals in the federation (N).", registry=r)
        self.active = Gauge("bflray_hospitals_active", "Hospitals not removed from the federation.", registry=r)
        self.removed = Gauge("bflray_hospitals_removed", "Hospitals removed from the federation so far.", registry=r)
        self.participants = Gauge(
            "bflray_round_hospitals", "Hospitals of the latest round, by role.", ["role"], registry=r
        )
        self.actors = Gauge(
            "bflray_actors", "Actors (or in-process blocks) hosting the run's roles.", ["kind"], registry=r
        )
        self.tokens_average = Gauge(
            "bflray_tokens_average", "Average tokens held (removed hospitals hold 0), by role and honesty.",
            ["role", "honesty"], registry=r,
        )
        self.tokens_held = Gauge(
            "bflray_tokens_held", "Total claimable tokens of all hospitals, by honesty.", ["honesty"], registry=r
        )
        self.survival = Gauge(
            "bflray_survival_ratio", "Share of hospitals not removed, by honesty.", ["honesty"], registry=r
        )
        self.outcomes = Counter(
            "bflray_round_outcomes_total", "Voted rounds by outcome (accepted, rejected).", ["outcome"], registry=r
        )
        self.votes = Counter("bflray_votes_total", "Votes cast, by vote (accept, reject).", ["vote"], registry=r)
        self._calldata_total = 0.0
        self._logs_total = 0.0
        self._state_total = 0.0
        self._offchain_total = 0.0
        self._federation_size = 0
        self._server: object | None = None
        self.port: int | None = None

    # ------------------------------------------------------------------ observations

    def observe_run(self, *, hospitals: int, actors: Mapping[str, int]) -> None:
        """The run's fixed figures: federation size N and actor counts by kind."""
        self._federation_size = hospitals
        self.federation_size.set(hospitals)
        self.active.set(hospitals)
        self.removed.set(0)
        for kind, count in actors.items():
            self.actors.labels(kind=kind).set(count)

    def observe_round(self, record: Mapping[str, object]) -> None:
        """Everything a finished round's record (its row of ``rounds.parquet``) says.

        Keys that a pipeline does not produce are skipped; stage durations are observed by
        the pipeline as each stage ends, not here.
        """
        num = _numbers(record)
        self.rounds.inc()
        if "round" in num:
            self.round.set(num["round"])
        if "seconds_total" in num:
            self.round_seconds.observe(num["seconds_total"])
        self.gas.inc(num.get("gas_used", 0.0))
        calldata, logs = num.get("calldata_bytes", 0.0), num.get("log_bytes", 0.0)
        offchain = num.get("offchain_bytes", 0.0)
        self.onchain_bytes.inc(num.get("onchain_bytes", calldata + logs))
        self.offchain_bytes.inc(offchain)
        self._calldata_total += calldata
        self._logs_total += logs
        self._offchain_total += offchain
        self.onchain_storage.labels(kind="calldata").set(self._calldata_total)
        self.onchain_storage.labels(kind="logs").set(self._logs_total)
        self.onchain_round.labels(kind="calldata").set(calldata)
        self.onchain_round.labels(kind="logs").set(logs)
        self.offchain_storage.set(self._offchain_total)
        self.offchain_round.set(offchain)

        for key, gauge in (
            ("accuracy", self.accuracy), ("loss", self.loss), ("train_loss", self.train_loss),
            ("attack_success_rate", self.attack_success), ("privacy_epsilon", self.privacy_epsilon),
            ("hospitals", self.hospitals),
        ):
            if key in num:
                gauge.set(num[key])
        for key, role in PARTICIPANT_KEYS:
            if key in num:
                self.participants.labels(role=role).set(num[key])
        if "removed_total" in num:
            self.removed.set(num["removed_total"])
            if self._federation_size:
                self.active.set(self._federation_size - num["removed_total"])

        if isinstance(record.get("accepted"), bool):
            self.outcomes.labels(outcome="accepted" if record["accepted"] else "rejected").inc()
        for key, vote in (("accepts", "accept"), ("rejects", "reject")):
            if key in num:
                self.votes.labels(vote=vote).inc(num[key])
        for honesty in HONESTY:
            if f"tokens_{honesty}" in num:
                self.tokens_average.labels(role="all", honesty=honesty).set(num[f"tokens_{honesty}"])
            for role in ("proposers", "voters"):
                if f"tokens_{honesty}_{role}" in num:
                    self.tokens_average.labels(role=role[:-1], honesty=honesty).set(num[f"tokens_{honesty}_{role}"])
            if f"tokens_total_{honesty}" in num:
                self.tokens_held.labels(honesty=honesty).set(num[f"tokens_total_{honesty}"])
            if f"survival_{honesty}" in num:
                self.survival.labels(honesty=honesty).set(num[f"survival_{honesty}"])

    def observe_transaction(self, tx: Transaction) -> None:
        """One mined transaction: its latency, gas and count by contract function."""
        labels = {"contract": tx.contract, "function": tx.function}
        self.tx_seconds.labels(**labels).observe(tx.seconds)
        self.tx_gas.labels(**labels).inc(tx.receipt.gas_used)
        self.tx_count.labels(**labels).inc()

    def observe_chain_rows(self, rows: Iterable[Mapping[str, object]], *, round_: int | None = None) -> None:
        """State growth from the chain meter's aggregated rows (``new_slots``, ``freed_slots``).

        ``round_`` marks the rows as that round's, which sets the per-round increment too;
        without it (setup transactions) only the running total grows.
        """
        net = 0.0
        for row in rows:
            new, freed = row.get("new_slots"), row.get("freed_slots")
            if isinstance(new, int | float) and isinstance(freed, int | float):
                net += (float(new) - float(freed)) * SLOT_BYTES
        self._state_total += net
        self.onchain_storage.labels(kind="state").set(self._state_total)
        if round_ is not None:
            self.onchain_round.labels(kind="state").set(net)

    # ------------------------------------------------------------------ endpoint

    def serve(self, host: str, port: int) -> int:
        """Start the HTTP endpoint; ``port=0`` picks a free one. Returns the bound port."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._server = server
        self.port = int(server.server_port)
        return self.port

    def close(self) -> None:
        server = self._server
        if server is not None:
            server.shutdown()  # type: ignore[attr-defined]
            server.server_close()  # type: ignore[attr-defined]
            self._server = None

    def __enter__(self) -> RunMetrics:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _numbers(record: Mapping[str, object]) -> dict[str, float]:
    """The record's finite numeric values (bools excluded: they are outcomes, not amounts)."""
    out: dict[str, float] = {}
    for key, value in record.items():
        if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
            continue
        number = float(value)
        if math.isfinite(number):
            out[key] = number
    return out
