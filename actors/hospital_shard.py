"""``HospitalShard``: an actor hosting a block of hospitals through the library's role.

A plain class; the backend makes it remote at the call site, so it is testable without Ray.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from bflray.config import Config
from bflray.roles import make_hospital_block
from bflray.training.synthetic import SyntheticWorkload


class HospitalShard:
    """Hosts the configured hospital role (:func:`bflray.roles.make_hospital_block`) for hospitals ``first … stop-1``."""

    def __init__(
        self, config: Config, first: int, stop: int, num_threads: int = 1, workload: SyntheticWorkload | None = None
    ) -> None:
        # One torch thread per CPU the actor asked for; Ray does not limit torch itself.
        torch.set_num_threads(max(1, num_threads))
        self.block = make_hospital_block(config, first, stop, workload)

    def call(self, method: str, *args: Any) -> Any:
        """``block.method(*args)``: one entry point, so new role methods need no actor change."""
        return getattr(self.block, method)(*args)

    def where(self) -> dict[str, Any]:
        """Where this shard runs: node, address, process and GPUs (written to ``placement.json``)."""
        import ray

        context = ray.get_runtime_context()
        return {"node_id": context.get_node_id(), "ip": ray.util.get_node_ip_address(),  # type: ignore[no-untyped-call] "pid": os.getpid(),
                "gpu_ids": [str(g) for g in ray.get_gpu_ids()]}

    def crash(self, method: str, *args: Any) -> None:
        """A fault injected on purpose (``[faults]``): the process exits in the middle of the
        ``method`` call it was sent, as a host that crashed would; nothing is answered."""
        os._exit(17)
