"""Ray settings for a local cluster on this kind of machine, applied before ``ray`` loads."""

from __future__ import annotations

import os

# Local test clusters need no token; usage stats would try the network.
DEFAULTS = {
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
}

#: A cluster the run starts itself listens on loopback only (``ray.init(_node_ip_address=…)``).
#: Not through ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``: that flag is read once, when ``ray``
#: loads, and would also make a driver that joins a multi-node cluster advertise 127.0.0.1
#: (and make ``ray start`` of a second node refuse to run).
LOCAL_NODE_IP = "127.0.0.1"


def apply_ray_defaults() -> None:
    """Set each default unless the user set the variable already."""
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
