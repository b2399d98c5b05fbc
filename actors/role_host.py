"""``RoleHost``: an actor hosting one few-of-a-kind role (an aggregation node, a chain validator), and
``RemoteRole``, the driver's handle that makes it look like the plain object.

Aggregation nodes are called once per block of shares; their ``receive`` calls are sent
without waiting (Ray runs one caller's actor tasks in order), and the next call that returns
a value first collects them, so an error in any of them still surfaces.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ray
from ray.exceptions import RayActorError, RayTaskError

from bflray.errors import BackendError, BflrayError


class RoleHost:
    """Hosts ``factory()``; one generic entry point, so new role methods need no actor change."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self.role = factory()

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.role, method)(*args, **kwargs)

    def ready(self) -> bool:
        """Answers once the role is built (construction errors surface here)."""
        return True

    def where(self) -> dict[str, Any]:
        """The node and process hosting the role (for ``placement.json``)."""
        import os

        return {"node_id": ray.get_runtime_context().get_node_id(), "pid": os.getpid()}


class AggregationNodeHost(RoleHost):
    """An SMPC aggregation node (:class:`bflray.smpc.AggregationNode`); its own class so the
    Ray dashboard and state API name it."""


class ChainValidatorHost(RoleHost):
    """A chain validator (:class:`bflray.roles.validator.ChainValidator`); it reads the run's
    off-chain store, so on a multi-node cluster the run directory must be on shared storage."""


class RemoteRole:
    """Driver-side handle of a hosted role: ``handle.method(*args)`` runs it in the actor.

    Methods named in ``no_wait`` return ``None`` at once; their results are checked at the
    next waiting call.
    """

    def __init__(self, actor: Any, *, index: int, kind: str, no_wait: frozenset[str] = frozenset()) -> None:
        self._actor = actor
        self._pending: list[Any] = []
        self.index = index
        self.kind = kind
        self.no_wait = no_wait

    def where_ref(self) -> Any:
        """A reference to the host's :meth:`RoleHost.where` (get several at once)."""
        return self._actor.where.remote()

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)

        def remote_call(*args: Any, **kwargs: Any) -> Any:
            ref = self._actor.call.remote(method, *args, **kwargs)
            if method in self.no_wait:
                self._pending.append(ref)
                return None
            pending, self._pending = self._pending, []
            return self._get([*pending, ref], method)[-1]

        return remote_call

    def _get(self, refs: list[Any], method: str) -> list[Any]:
        try:
            return list(ray.get(refs))
        except RayTaskError as exc:
            cause = exc.as_instanceof_cause()  # type: ignore[no-untyped-call]
            if isinstance(cause, BflrayError):
                raise cause from exc
            raise BackendError(f"{self.kind} {self.index} failed in {method!r}: {exc}") from exc
        except RayActorError as exc:
            raise BackendError(f"{self.kind} {self.index} died during {method!r}: {exc}") from exc

    def kill(self) -> None:
        """Kill the actor now (fault injection; also used at shutdown)."""
        ray.kill(self._actor)
