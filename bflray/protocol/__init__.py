"""One federated round as a pipeline of stages over the roles, via an injected backend."""

from bflray.protocol.backend import Backend, InProcessBackend, create_backend, register_backend, shard_ranges
from bflray.roles.messages import RoundPlan, TrainResult

__all__ = [
    "Backend",
    "InProcessBackend",
    "RoundPlan",
    "TrainResult",
    "create_backend",
    "register_backend",
    "shard_ranges",
]
