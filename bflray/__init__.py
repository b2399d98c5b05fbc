"""bflray: simulate blockchain-based federated learning between many hospitals."""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING, Any

try:
    __version__ = metadata.version("bflray")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

if TYPE_CHECKING:
    from bflray.api import RunResult


def run(config: Any, **kwargs: Any) -> RunResult:
    """Run one experiment; see :func:`bflray.api.run`. Imported lazily to keep ``import bflray`` light."""
    from bflray.api import run as _run

    return _run(config, **kwargs)


def resume(run_dir: Any, **kwargs: Any) -> RunResult:
    """Continue an unfinished run from its last checkpoint; see :func:`bflray.api.resume`."""
    from bflray.api import resume as _resume

    return _resume(run_dir, **kwargs)


__all__ = ["__version__", "resume", "run"]
