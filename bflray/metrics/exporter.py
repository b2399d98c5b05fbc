"""Prometheus metrics of a run, served by the driver on a loopback port while the run lasts.

Each run has its own registry, so two runs in one process never mix their series. Names
follow ``bflray_<thing>_<unit>``; no label is ever per hospital.
"""

from __future__ import annotations

from types import TracebackType

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class RunMetrics:
    """The metric families of one run and, once :meth:`serve` is called, their endpoint."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.stage_seconds = Histogram(
            "bflray_stage_duration_seconds", "Duration of one round stage.", ["stage"],
            buckets=STAGE_BUCKETS, registry=r,
        )
        self.round_seconds = Histogram(
            "bflray_round_duration_seconds", "Duration of one whole round.", buckets=STAGE_BUCKETS, registry=r
        )
        self.rounds = Counter("bflray_rounds_total", "Rounds completed.", registry=r)
        self.gas = Counter("bflray_gas_used_total", "Gas used by the run's transactions.", registry=r)
        self.onchain_bytes = Counter(
            "bflray_onchain_bytes_total", "Calldata and log bytes the run put on chain.", registry=r
        )
        self.offchain_bytes = Counter(
            "bflray_offchain_bytes_total", "Payload bytes the run put in the off-chain store.", registry=r
        )
        self.accuracy = Gauge("bflray_accuracy_ratio", "Test accuracy of the latest global model.", registry=r)
        self.loss = Gauge("bflray_loss", "Test loss of the latest global model.", registry=r)
        self.hospitals = Gauge("bflray_hospitals", "Hospitals in the latest round's cohort.", registry=r)
        self._server: object | None = None
        self.port: int | None = None

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
