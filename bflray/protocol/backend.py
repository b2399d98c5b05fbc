"""The seam between the round pipeline and wherever the roles live.

A backend hosts hospital blocks (in this process, or in Ray actors) and calls a method on
every block, returning the answers in block order. The pipeline never knows which.
Backends are registered by name; the Ray backend registers itself from the ``actors``
package, so this library never imports Ray.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from bflray.config import Config
from bflray.errors import BackendError, ConfigError
from bflray.roles import HospitalBlock, make_hospital_block
from bflray.training.synthetic import SyntheticWorkload


class Backend(Protocol):
    """Hosts hospital blocks and calls their methods."""

    name: str

    def capacity(self) -> int:
        """How many blocks can run in parallel (used when packing is automatic)."""
        ...

    def launch(
        self, config: Config, ranges: Sequence[tuple[int, int]], workload: SyntheticWorkload | None = None
    ) -> None:
        """Host one block per ``(first, stop)`` hospital range; with ``workload``, the blocks
        generate their hospitals' samples instead of loading the configured dataset."""
        ...

    def call(self, method: str, *args: Any, missing_ok: bool = False) -> list[Any]:
        """``block.method(*args)`` on every block, answers in block order.

        A block whose host died answers ``None`` when ``missing_ok`` and the configured
        ``runtime.shard_failure`` is ``"drop"``; otherwise the host is restarted and the call
        retried (``runtime.shard_retries`` times), and a block that still fails raises
        :class:`~bflray.errors.BackendError`."""
        ...

    def configure(self, method: str, *args: Any) -> list[Any]:
        """:meth:`call` for a method that sets a block's state (encoders, say): it is replayed
        on a restarted host before that host answers anything else."""
        ...

    def take_faults(self) -> list[dict[str, Any]]:
        """The host failures seen since the last call, oldest first (and forget them)."""
        ...

    def placement(self) -> dict[str, list[dict[str, Any]]]:
        """``shards``: per block its hospital range and where it runs; ``roles``: per hosted role
        (aggregation node, chain validator) where it runs."""
        ...

    def host_roles(
        self, kind: str, factories: Sequence[Callable[[], Any]], *, no_wait: frozenset[str] = frozenset()
    ) -> list[Any]:
        """Host one role per factory (aggregation nodes, a dealer: few of a kind) and return
        handles that are called like the role objects themselves; released by :meth:`close`.
        Methods in ``no_wait`` may return before they ran (their errors surface later)."""
        ...

    def close(self) -> None:
        """Release every block; safe to call twice."""
        ...


class InProcessBackend:
    """Blocks as plain objects in the driver: for unit tests and small runs."""

    name = "inprocess"

    def __init__(self, config: Config | None = None) -> None:
        self._blocks: list[HospitalBlock] = []

    def capacity(self) -> int:
        return 1

    def launch(
        self, config: Config, ranges: Sequence[tuple[int, int]], workload: SyntheticWorkload | None = None
    ) -> None:
        if config.faults.shard_crash_rounds:
            raise ConfigError(
                f"faults.shard_crash_rounds = {list(config.faults.shard_crash_rounds)}: crashes are injected into "
                f"shard processes, and runtime.backend = {config.runtime.backend!r} has none; use runtime.backend = 'ray'"
            )
        self._blocks = [make_hospital_block(config, first, stop, workload) for first, stop in ranges]

    def call(self, method: str, *args: Any, missing_ok: bool = False) -> list[Any]:
        if not self._blocks:
            raise BackendError("no hospital blocks are launched")
        return [getattr(block, method)(*args) for block in self._blocks]

    def configure(self, method: str, *args: Any) -> list[Any]:
        return self.call(method, *args)

    def take_faults(self) -> list[dict[str, Any]]:
        return []  # blocks in the driver's process fail with it

    def placement(self) -> dict[str, list[dict[str, Any]]]:
        shards: list[dict[str, Any]] = [{"shard": i, "first_hospital": b.first, "stop_hospital": b.first + len(b.hospital_ids),
                   "node_id": None, "ip": None, "pid": os.getpid(), "gpu_ids": []} for i, b in enumerate(self._blocks)]
        return {"shards": shards, "roles": []}  # roles are plain objects in this process

    def host_roles(
        self, kind: str, factories: Sequence[Callable[[], Any]], *, no_wait: frozenset[str] = frozenset()
    ) -> list[Any]:
        return [factory() for factory in factories]

    def close(self) -> None:
        self._blocks = []


BackendFactory = Callable[[Config], Backend]
_REGISTRY: dict[str, BackendFactory] = {"inprocess": InProcessBackend}


def register_backend(name: str, factory: BackendFactory) -> None:
    """Make ``runtime.backend = name`` build its backend with ``factory(config)``."""
    _REGISTRY[name] = factory


def create_backend(config: Config) -> Backend:
    """The backend ``runtime.backend`` names; it must have been registered."""
    name = config.runtime.backend
    factory = _REGISTRY.get(name)
    if factory is None:
        raise ConfigError(
            f"runtime.backend = {name!r} is not registered in this process; registered: "
            f"{', '.join(sorted(_REGISTRY))} (the Ray backend registers itself on `import actors`)"
        )
    return factory(config)


def shard_ranges(num_hospitals: int, *, hospitals_per_actor: int, capacity: int) -> list[tuple[int, int]]:
    """Contiguous ``(first, stop)`` hospital ranges, one per block.

    ``hospitals_per_actor = 0`` packs the hospitals into ``capacity`` near-equal blocks.
    """
    if hospitals_per_actor > 0:
        size = hospitals_per_actor
    else:
        size = -(-num_hospitals // max(1, min(capacity, num_hospitals)))
    return [(first, min(first + size, num_hospitals)) for first in range(0, num_hospitals, size)]
