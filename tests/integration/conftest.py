"""Fixtures for runs against a real anvil and a real local Ray cluster."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bflray.chain._tools import find_tool
from bflray.errors import ChainError


@pytest.fixture(scope="session", autouse=True)
def _needs_anvil() -> None:
    try:
        find_tool("anvil")
    except ChainError as exc:
        pytest.skip(f"{exc} (install with `npm ci`)")


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One local Ray cluster (2 CPUs, loopback, its own temp dir) for the whole session."""
    import actors.settings  # applies the Ray defaults; importing the package registers the backend
    import ray

    temp = Path(tmp_path_factory.mktemp("ray"))
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=str(temp), configure_logging=False,
             _node_ip_address=actors.settings.LOCAL_NODE_IP)
    try:
        yield
    finally:
        ray.shutdown()
        os.environ.pop("RAY_ADDRESS", None)
