"""``RayBackend``: hospital blocks in ``HospitalShard`` actors on a local or remote Ray cluster.

The facade hides ``.remote()``/``ray.get``, translates Ray's errors into
:class:`~bflray.errors.BackendError` and owns shutdown: a cluster it started it stops.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from actors.settings import LOCAL_NODE_IP, apply_ray_defaults

apply_ray_defaults()

import ray  # noqa: E402
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError  # noqa: E402
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # noqa: E402

from actors.hospital_shard import HospitalShard  # noqa: E402
from actors.role_host import AggregationNodeHost, ChainValidatorHost, RemoteRole, RoleHost  # noqa: E402
from bflray.config import Config  # noqa: E402
from bflray.errors import BackendError, BflrayError, ConfigError  # noqa: E402
from bflray.training.synthetic import SyntheticWorkload  # noqa: E402

log = logging.getLogger("bflray")


class RayBackend:
    """Blocks as Ray actors; ``ray.address`` empty starts a local cluster.

    A shard whose process dies is restarted by Ray (``runtime.max_restarts``), which reruns
    its constructor: the block reloads its hospitals from the config, and the calls made
    through :meth:`configure` are replayed before it answers anything else. The call it
    died in is retried on the new process (``runtime.shard_failure = "retry"``) or, where
    the caller can do without the block's answer, left out (``"drop"``); every failure is
    kept for :meth:`take_faults`.
    """

    name = "ray"

    def __init__(self, config: Config) -> None:
        self._owns_cluster = False
        self._actors: list[Any] = []
        self._ranges: list[tuple[int, int]] = []
        self._roles: list[RemoteRole] = []
        self._num_cpus = config.runtime.num_cpus_per_actor
        self._num_gpus = config.runtime.num_gpus_per_actor
        self._start_timeout_s = config.runtime.start_timeout_s
        self._policy = config.runtime.shard_failure
        self._retries = config.runtime.shard_retries
        self._max_restarts = config.runtime.max_restarts
        self._faults_config = config.faults
        self._crashed: set[int] = set()  # rounds whose injected crash has happened
        self._configured: list[tuple[str, list[Any]]] = []  # (method, argument refs) to replay
        self._stale: set[int] = set()  # shards that died and have not been brought back yet
        self._faults: list[dict[str, Any]] = []
        self._shard_strategy = _STRATEGIES[config.ray.shard_placement]
        self._role_strategy = _STRATEGIES[config.ray.role_placement]
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "configure_logging": False}
            try:
                if config.ray.address:
                    ray.init(address=config.ray.address, **kwargs)
                else:
                    if "RAY_ADDRESS" not in os.environ:  # a cluster of our own: loopback only
                        kwargs["_node_ip_address"] = LOCAL_NODE_IP
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
        faults = config.faults
        if faults.shard_crash_rounds and faults.shard_crash_index >= len(ranges):
            raise ConfigError(
                f"faults.shard_crash_index = {faults.shard_crash_index}: the run has {len(ranges)} hospital shards "
                f"(0 … {len(ranges) - 1})"
            )
        remote_shard = ray.remote(HospitalShard)
        num_cpus = self._fitting_cpus(len(ranges))
        threads = max(1, int(num_cpus))
        options = {"num_cpus": num_cpus, "num_gpus": self._num_gpus, "max_restarts": self._max_restarts,
                   "scheduling_strategy": self._shard_strategy}
        self._ranges = list(ranges)
        self._actors = [
            remote_shard.options(**options).remote(config, first, stop, threads, workload) for first, stop in ranges
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

    def call(self, method: str, *args: Any, missing_ok: bool = False) -> list[Any]:
        if not self._actors:
            raise BackendError("no hospital shards are launched")
        refs = [ray.put(a) for a in args]  # one copy in the object store, shared by every shard
        round_ = getattr(args[0], "round", None) if args else None
        answers: list[Any] = [None] * len(self._actors)
        attempts = [0] * len(self._actors)
        pending = {self._submit(i, method, refs, round_): i for i in range(len(self._actors))}
        while pending:
            [ref], _ = ray.wait(list(pending), num_returns=1)
            i = pending.pop(ref)
            try:
                answers[i] = ray.get(ref)
            except RayTaskError as exc:
                raise _translate(exc, method) from exc
            except RayActorError as exc:
                drop = missing_ok and self._policy == "drop"
                attempts[i] += 1
                if not drop and attempts[i] > self._retries:
                    raise BackendError(
                        f"hospital shard {i} ({self._describe(i)}) died during {method!r} and still failed after "
                        f"runtime.shard_retries={self._retries} retries: {_first_line(exc)}"
                    ) from exc
                self._stale.add(i)
                self._record(i, method, round_, exc, "dropped" if drop else "retried")
                if not drop:
                    pending[self._submit(i, method, refs, round_)] = i
        return answers

    def configure(self, method: str, *args: Any) -> list[Any]:
        answers = self.call(method, *args)
        self._configured.append((method, [ray.put(a) for a in args]))
        return answers

    def take_faults(self) -> list[dict[str, Any]]:
        faults, self._faults = self._faults, []
        return faults

    def placement(self) -> dict[str, list[dict[str, Any]]]:
        """Per shard its hospitals and where it runs (node id, IP, pid, GPU ids); per hosted
        role (aggregation node, validator) its node and pid."""
        where = ray.get([a.where.remote() for a in self._actors], timeout=self._start_timeout_s)
        roles = ray.get([r.where_ref() for r in self._roles], timeout=self._start_timeout_s)
        return {
            "shards": [{"shard": i, "first_hospital": first, "stop_hospital": stop, **w}
                       for i, ((first, stop), w) in enumerate(zip(self._ranges, where, strict=True))],
            "roles": [{"kind": r.kind, "index": r.index, **w} for r, w in zip(self._roles, roles, strict=True)],
        }

    def _submit(self, i: int, method: str, refs: list[Any], round_: int | None) -> Any:
        if i in self._stale:
            self._revive(i)
        f = self._faults_config
        if (round_ is not None and method == f.shard_crash_method and i == f.shard_crash_index
                and round_ in f.shard_crash_rounds and round_ not in self._crashed):
            self._crashed.add(round_)  # once per round: the retried call runs on the new process
            return self._actors[i].crash.remote(method, *refs)
        return self._actors[i].call.remote(method, *refs)

    def _revive(self, i: int) -> None:
        """Wait until Ray has restarted shard ``i``, then replay the configuring calls on it."""
        actor, deadline = self._actors[i], time.monotonic() + self._start_timeout_s
        started = time.monotonic()
        while True:
            try:
                ray.get(actor.call.remote("describe"), timeout=max(0.1, deadline - time.monotonic()))
                break
            except (RayActorError, GetTimeoutError) as exc:
                if time.monotonic() >= deadline:
                    raise BackendError(
                        f"hospital shard {i} ({self._describe(i)}) died and was not back within "
                        f"runtime.start_timeout_s={self._start_timeout_s} (runtime.max_restarts="
                        f"{self._max_restarts}): {_first_line(exc)}"
                    ) from exc
                time.sleep(0.2)
        for method, refs in self._configured:
            try:
                ray.get(actor.call.remote(method, *refs), timeout=self._start_timeout_s)
            except RayTaskError as exc:
                raise _translate(exc, method) from exc
            except (RayActorError, GetTimeoutError) as exc:
                raise BackendError(f"hospital shard {i} failed again while {method!r} was replayed: {exc}") from exc
        self._stale.discard(i)
        log.warning("hospital shard %d (%s) is back after %.1f s", i, self._describe(i), time.monotonic() - started)

    def _record(self, i: int, method: str, round_: int | None, exc: Exception, action: str) -> None:
        first, stop = self._ranges[i]
        fault = {"round": round_, "shard": i, "first_hospital": first, "stop_hospital": stop, "method": method,
                 "action": action, "error": _first_line(exc)}
        self._faults.append(fault)
        log.warning("hospital shard %d (%s) died during %r in round %s; %s", i, self._describe(i), method, round_,
                    "its hospitals sit this round out" if action == "dropped" else "retrying on its restarted process")

    def _describe(self, i: int) -> str:
        first, stop = self._ranges[i]
        return f"hospitals {first}…{stop - 1}"

    def host_roles(
        self, kind: str, factories: Sequence[Callable[[], Any]], *, no_wait: frozenset[str] = frozenset()
    ) -> list[Any]:
        # Few and light next to the shards: no CPU reserved, so they never wait for the shards' CPUs.
        host: Any = ray.remote(_HOSTS.get(kind, RoleHost))
        actors: list[Any] = [
            host.options(num_cpus=0, scheduling_strategy=strategy).remote(factory)
            for factory, strategy in zip(factories, self._role_strategies(len(factories)), strict=True)
        ]
        handles = [RemoteRole(a, index=i, kind=kind, no_wait=no_wait) for i, a in enumerate(actors)]
        try:
            ray.get([a.ready.remote() for a in actors], timeout=self._start_timeout_s)
        except (GetTimeoutError, RayTaskError, RayActorError) as exc:
            for actor in actors:
                ray.kill(actor)
            raise BackendError(f"{len(actors)} {kind} actors did not start: {exc}") from exc
        self._roles += handles
        return handles

    def _role_strategies(self, count: int) -> list[Any]:
        """``spread``: role i on the i-th alive node, round robin, so k roles sit on k distinct
        nodes when the cluster has k (they ask for no CPU, so any node can host them). Ray's own
        SPREAD does not separate actors that ask for no CPU."""
        if self._role_strategy != "SPREAD":
            return [self._role_strategy] * count
        nodes = sorted(n["NodeID"] for n in ray.nodes() if n.get("Alive"))  # type: ignore[no-untyped-call]
        if len(nodes) < 2:
            return ["DEFAULT"] * count
        log.debug("roles over %d nodes: %s", len(nodes), [nodes[i % len(nodes)][:8] for i in range(count)])
        # Hard affinity: a soft one was seen to fall back to a busy node's neighbour while the
        # target node was starting its worker processes.
        return [NodeAffinitySchedulingStrategy(node_id=nodes[i % len(nodes)], soft=False) for i in range(count)]

    def close(self) -> None:
        for actor in self._actors:
            ray.kill(actor, no_restart=True)
        self._actors = []
        for role in self._roles:
            role.kill()
        self._roles = []
        if self._owns_cluster and ray.is_initialized():
            ray.shutdown()
            self._owns_cluster = False


_STRATEGIES = {"spread": "SPREAD", "default": "DEFAULT"}
_HOSTS: dict[str, type[RoleHost]] = {"aggregation_node": AggregationNodeHost, "chain_validator": ChainValidatorHost}


def _translate(exc: RayTaskError, method: str) -> Exception:
    """A library error raised inside a shard surfaces as itself; anything else as a BackendError."""
    cause = exc.as_instanceof_cause()  # type: ignore[no-untyped-call]
    if isinstance(cause, BflrayError):
        return cause
    return BackendError(f"a hospital shard failed in {method!r}: {exc}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _cluster_resources() -> dict[str, float]:
    resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
    return resources
