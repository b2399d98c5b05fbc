"""The PoR head stacked over hospitals equals the nn.Module head, in training and evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bflray.models.por_head import PoRHead, PoRHeadSpec
from bflray.models.por_stacked import PoRHeadStacked

SPEC = PoRHeadSpec(width=16, tokens=5, num_outputs=3, hidden=(12,), dropout=0.0)


def test_head_shapes_follow_the_paper() -> None:
    head = PoRHead(PoRHeadSpec(width=64, tokens=12, num_outputs=10))
    conv_down = head.bottleneck.body[2]
    assert conv_down.out_channels == 64 // 8 and head.bottleneck.body[5].kernel_size == (3,)
    assert head(torch.randn(4, 12, 64)).shape == (4, 10)


def test_stacked_training_forward_matches_the_module_on_real_samples_only() -> None:
    model = PoRHeadStacked(SPEC)
    states = np.stack([model.init(np.random.default_rng(i)) for i in range(3)])
    x = torch.randn(3, 7, 5 * 16)
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[1, 4:] = False  # padding must not touch hospital 1's batch statistics
    p = model.num_params
    st = torch.from_numpy(states)
    logits, buffers = model.forward_train(model.unflatten(st[:, :p]), st[:, p:], x, mask, None)
    for i in range(3):
        head = model.load(states[i]).train()
        n = int(mask[i].sum())
        expected = head(x[i, :n].reshape(n, 5, 16))
        torch.testing.assert_close(logits[i, :n], expected, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(buffers[i], torch.from_numpy(model.flatten(head)[p:]), atol=1e-5, rtol=1e-5)


def test_stacked_logits_match_the_module_in_eval_mode() -> None:
    model = PoRHeadStacked(SPEC)
    heads = [PoRHead(SPEC) for _ in range(2)]
    for head in heads:  # non-trivial running statistics
        head.train()
        head(torch.randn(32, 5, 16) * 3 + 1)
    states = torch.from_numpy(np.stack([model.flatten(h) for h in heads]))
    kappa = torch.randn(6, 5, 16)
    shared = model.logits(states, kappa)
    for i, head in enumerate(heads):
        torch.testing.assert_close(shared[i], head.eval()(kappa), atol=1e-5, rtol=1e-5)


def test_bottleneck_width_must_divide() -> None:
    with pytest.raises(ValueError, match="multiple of reduction"):
        PoRHeadSpec(width=20, tokens=4, num_outputs=2)
