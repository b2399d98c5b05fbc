"""``HospitalShard``: an actor hosting a block of hospitals through the library's role.

A plain class; the backend makes it remote at the call site, so it is testable without Ray.
"""

from __future__ import annotations

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
