"""Sweep cells as Ray tasks: ``bflray sweep`` on a local or remote cluster.

Each cell is one task that runs :func:`bflray.sweep.run_cell`; its run's hospital shards (with
``runtime.backend = "ray"``) are actors on the same cluster. ``parallel`` bounds the cells in
flight: a scalability sweep wants 1 (cells must not share the machine they are timed on), a
robustness grid as many as the cluster holds.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from actors.settings import LOCAL_NODE_IP, apply_ray_defaults

apply_ray_defaults()

import ray  # noqa: E402

from bflray.config import Config  # noqa: E402
from bflray.sweep import Cell, run_cell  # noqa: E402


def _cell_task(config: Config, cell: Cell, runs_dir: str) -> dict[str, Any]:
    """A cell in a Ray worker: importing this module (package ``actors``) registered the Ray backend."""
    return run_cell(config, cell, runs_dir)


def ray_executor(*, parallel: int, cpus_per_cell: float):  # type: ignore[no-untyped-def]
    """An ``execute`` for :func:`bflray.sweep.run_sweep` that runs cells as Ray tasks."""

    def execute(jobs: list[tuple[Config, Cell]], runs_dir: str) -> Iterator[dict[str, Any]]:
        task = ray.remote(_cell_task).options(num_cpus=cpus_per_cell, max_retries=0)
        waiting = list(jobs)
        in_flight: list[Any] = []
        while waiting or in_flight:
            while waiting and len(in_flight) < parallel:
                config, cell = waiting.pop(0)
                in_flight.append(task.remote(config, cell, runs_dir))
            [done], in_flight = ray.wait(in_flight, num_returns=1)
            yield ray.get(done)

    return execute


class ray_session:  # noqa: N801  (used as a context manager, like a function)
    """Ray for a sweep's driver: join ``ray.address`` (or ``RAY_ADDRESS`` under a job), else a local cluster."""

    def __init__(self, config: Config) -> None:
        self.config, self.owned = config, False

    def __enter__(self) -> ray_session:
        if not ray.is_initialized():
            address = self.config.ray.address or None
            kwargs: dict[str, Any] = {"include_dashboard": False, "configure_logging": False}
            if address is None and "RAY_ADDRESS" not in os.environ:
                kwargs["num_cpus"] = self.config.ray.num_cpus or None
                kwargs["_node_ip_address"] = LOCAL_NODE_IP  # a cluster of our own: loopback only
            ray.init(address=address, **kwargs)
            self.owned = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self.owned and ray.is_initialized():
            ray.shutdown()
