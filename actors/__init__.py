"""The Ray layer: actors hosting the library's roles, and the Ray backend.

Importing this package registers ``runtime.backend = "ray"`` with the library.
"""

from actors.backend import RayBackend
from bflray.protocol.backend import register_backend

register_backend("ray", RayBackend)

__all__ = ["RayBackend"]
