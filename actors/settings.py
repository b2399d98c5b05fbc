"""Ray settings for a local cluster on this kind of machine, applied before ``ray`` loads."""

from __future__ import annotations

import os

# Local test clusters need no token; usage stats would try the network.
DEFAULTS = {
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
}


def apply_ray_defaults() -> None:
    """Set each default unless the user set the variable already."""
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
