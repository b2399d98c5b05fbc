"""Which torch device a shard trains on (``runtime.device``)."""

from __future__ import annotations

import os

import torch

from bflray.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """``"cpu"``, ``"cuda"`` (an error when this process sees no GPU) or ``"auto"`` (the GPU
    when this process sees one: a Ray shard does when ``runtime.num_gpus_per_actor > 0``)."""
    if name == "cpu":
        return torch.device("cpu")
    available = torch.cuda.is_available()
    if name == "cuda":
        if not available:
            visible = os.environ.get("CUDA_VISIBLE_DEVICES")
            raise ConfigError(
                "runtime.device = 'cuda': this process sees no GPU "
                f"(CUDA_VISIBLE_DEVICES={visible!r}; a Ray shard gets one with runtime.num_gpus_per_actor > 0)"
            )
        return torch.device("cuda", torch.cuda.current_device())
    if name == "auto":
        return torch.device("cuda", torch.cuda.current_device()) if available else torch.device("cpu")
    raise ConfigError(f"runtime.device = {name!r}: expected 'auto', 'cpu' or 'cuda'")
