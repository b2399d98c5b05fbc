"""Fixtures for the chain tests: a real anvil from the repository's node_modules."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from bflray.chain import Chain
from bflray.chain._tools import find_tool
from bflray.config.schema import ChainConfig
from bflray.errors import ChainError


def _require(tool: str) -> Path:
    try:
        return find_tool(tool)
    except ChainError as exc:
        pytest.skip(f"{exc} (install with `npm ci`)")


@pytest.fixture(scope="session")
def anvil_binary() -> Path:
    """anvil's path; skips (a failure under CI) when it is not installed."""
    return _require("anvil")


@pytest.fixture(scope="session")
def forge_binary() -> Path:
    """forge's path; skips (a failure under CI) when it is not installed."""
    path = _require("forge")
    if not os.access(Path(__file__).parents[2] / "node_modules" / "solc" / "package.json", os.R_OK):
        pytest.skip("solc-js is not installed (install with `npm ci`)")
    return path


@pytest.fixture
def chain_config() -> ChainConfig:
    """A small anvil: 3 accounts, 5 s to start."""
    return ChainConfig(accounts=3, timeout_s=5.0)


@pytest.fixture(scope="module")
def shared_chain(anvil_binary: Path) -> Iterator[Chain]:
    """One chain for a whole test module (tests use distinct round numbers)."""
    with Chain.open(ChainConfig(accounts=3, timeout_s=5.0)) as chain:
        yield chain


@pytest.fixture
def free_port() -> int:
    """A loopback port nobody listens on (bound and released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
