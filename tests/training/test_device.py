"""``runtime.device``: where a shard trains. This machine has no GPU; the CUDA path itself is
checked on a GPU machine (see benchmarks/README.md)."""

from __future__ import annotations

import pytest
import torch

from bflray.errors import ConfigError
from bflray.training.device import resolve_device


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.is_available(), reason="this checks a machine without a GPU")
def test_auto_and_cpu_train_on_the_cpu_and_cuda_without_a_gpu_is_refused() -> None:
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match=r"runtime\.device = 'cuda': this process sees no GPU"):
        resolve_device("cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_auto_picks_the_gpu_when_there_is_one() -> None:
    assert resolve_device("auto").type == "cuda"
