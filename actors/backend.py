"""``RayBackend``: hospital blocks in ``HospitalShard`` actors on a local or remote Ray cluster.

The facade hides ``.remote()``/``ray.get``, translates Ray's errors into
:class:`~bflray.errors.BackendError` and owns shutdown: a cluster it started it stops.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from actors.settings import apply_ray_defaults

apply_ray_defaults()

import ray  # noqa: E402
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError  # noqa: E402

from actors.hospital_shard import HospitalShard  # noqa: E402
from actors.role_host import AggregationNodeHost, ChainValidatorHost, RemoteRole, RoleHost  # noqa: E402
from bflray.config import Config  # noqa: E402
from bflray.errors import BackendError, BflrayError  # noqa: E402
from bflray.training.synthetic import SyntheticWorkload  # noqa: E402


class RayBackend:
    """Blocks as Ray actors; ``ray.address`` empty starts a local cluster."""

    name = "ray"

    def __init__(self, config: Config) -> None:
        self._owns_cluster = False
        self._actors: list[Any] = []
        self._roles: list[RemoteRole] = []
        self._num_cpus = config.runtime.num_cpus_per_actor
        self._num_gpus = config.runtime.num_gpus_per_actor
        self._start_timeout_s = config.runtime.start_timeout_s
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "configure_logging": False}
            try:
                if config.ray.address:
                    ray.init(address=config.ray.address, **kwargs)
                else:
                    ray.init(num_cpus=config.ray.num_cpus or None, **kwargs)
            except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError …
                where = config.ray.address or "a local cluster"
                raise BackendError(f"ray.address={where!r}: cannot start or join Ray: {exc}") from exc
            self._owns_cluster = True

    def capacity(self) -> int:
        cpus = float(_cluster_resources().get("CPU", 1.0))
        return max(1, math.floor(cpus / self._num_cpus)) if self._num_cpus > 0 else max(1, int(cpus))

    def launch(
        self, config: Config, ranges: Sequence[tuple[int, int]], workload: SyntheticWorkload | None = None
    ) -> None:
        remote_shard = ray.remote(HospitalShard)
        num_cpus = self._fitting_cpus(len(ranges))
        threads = max(1, int(num_cpus))
        self._actors = [
            remote_shard.options(num_cpus=num_cpus, num_gpus=self._num_gpus).remote(config, first, stop, threads, workload)
            for first, stop in ranges
        ]
        try:  # surfaces construction errors now, not in round 1; never waits forever
            ray.get([a.call.remote("describe") for a in self._actors], timeout=self._start_timeout_s)
        except GetTimeoutError as exc:
            self.close()
            raise BackendError(
                f"{len(ranges)} hospital shards (num_cpus={num_cpus}, num_gpus={self._num_gpus} each) did not start "
                f"within runtime.start_timeout_s={self._start_timeout_s}; cluster resources: {_cluster_resources()}"
            ) from exc
        except RayTaskError as exc:
            self.close()
            raise _translate(exc, "start") from exc

    def _fitting_cpus(self, shards: int) -> float:
        """CPUs per shard: as configured, or shared when more shards are asked for than fit
        (``hospitals_per_actor = 1`` on a small machine), so every shard can be scheduled."""
        total = float(_cluster_resources().get("CPU", 1.0))
        if self._num_cpus * shards <= total:
            return self._num_cpus
        return max(0.01, math.floor(total / shards * 100) / 100)

    def call(self, method: str, *args: Any) -> list[Any]:
        if not self._actors:
            raise BackendError("no hospital shards are launched")
        refs = [ray.put(a) for a in args]  # one copy in the object store, shared by every shard
        try:
            return list(ray.get([actor.call.remote(method, *refs) for actor in self._actors]))
        except RayTaskError as exc:
            raise _translate(exc, method) from exc
        except RayActorError as exc:
            raise BackendError(f"a hospital shard died during {method!r}: {exc}") from exc

    def host_roles(
        self, kind: str, factories: Sequence[Callable[[], Any]], *, no_wait: frozenset[str] = frozenset()
    ) -> list[Any]:
        # Few and light next to the shards: no CPU reserved, so they never wait for the shards' CPUs.
        host: Any = ray.remote(_HOSTS.get(kind, RoleHost)).options(num_cpus=0)
        actors: list[Any] = [host.remote(factory) for factory in factories]
        handles = [RemoteRole(a, index=i, kind=kind, no_wait=no_wait) for i, a in enumerate(actors)]
        try:
            ray.get([a.ready.remote() for a in actors], timeout=self._start_timeout_s)
        except (GetTimeoutError, RayTaskError, RayActorError) as exc:
            for actor in actors:
                ray.kill(actor)
            raise BackendError(f"{len(actors)} {kind} actors did not start: {exc}") from exc
        self._roles += handles
        return handles

    def close(self) -> None:
        for actor in self._actors:
            ray.kill(actor)
        self._actors = []
        for role in self._roles:
            role.kill()
        self._roles = []
        if self._owns_cluster and ray.is_initialized():
            ray.shutdown()
            self._owns_cluster = False


_HOSTS: dict[str, type[RoleHost]] = {"aggregation_node": AggregationNodeHost, "chain_validator": ChainValidatorHost}


def _translate(exc: RayTaskError, method: str) -> Exception:
    """A library error raised inside a shard surfaces as itself; anything else as a BackendError."""
    cause = exc.as_instanceof_cause()  # type: ignore[no-untyped-call]
    if isinstance(cause, BflrayError):
        return cause
    return BackendError(f"a hospital shard failed in {method!r}: {exc}")


def _cluster_resources() -> dict[str, float]:
    resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
    return resources
