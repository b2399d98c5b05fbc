"""Vectorised block training equals training each hospital alone."""

from __future__ import annotations

import numpy as np
import torch

from bflray.models import MLPSpec
from bflray.training import train_block_sgd


def _loop_reference(spec, global_params, features, labels, samples, seeds, *, epochs, batch_size, lr):  # type: ignore[no-untyped-def]
    out = []
    for idx, seed in zip(samples, seeds, strict=True):
        rng = np.random.default_rng(seed)
        w = torch.tensor(global_params, dtype=torch.float32).unsqueeze(0).requires_grad_(True)
        for _ in range(epochs):
            order = rng.permutation(idx)
            for b in range(0, len(order), batch_size):
                batch = order[b : b + batch_size]
                x = torch.from_numpy(features[batch]).unsqueeze(0)
                y = torch.from_numpy(labels[batch])
                loss = torch.nn.functional.cross_entropy(spec.forward(w, x)[0], y)
                (g,) = torch.autograd.grad(loss, w)
                with torch.no_grad():
                    w -= lr * g
        out.append(w.detach().numpy()[0])
    return np.stack(out)


def test_block_training_matches_a_plain_per_hospital_loop() -> None:
    # Prepare: hospitals of different sizes, including a batch-size remainder
    rng = np.random.default_rng(0)
    spec = MLPSpec(num_features=12, hidden=8, num_classes=3)
    features = rng.normal(size=(120, 12)).astype(np.float32)
    labels = rng.integers(0, 3, size=120)
    sizes = [7, 30, 16, 1, 40]
    bounds = np.cumsum([0, *sizes])
    samples = [np.arange(bounds[i], bounds[i + 1]) for i in range(len(sizes))]
    global_params = spec.init(np.random.default_rng(1))
    seeds = [10, 11, 12, 13, 14]
    # Execute
    stacked, losses = train_block_sgd(
        spec, global_params, features, labels, samples, [np.random.default_rng(s) for s in seeds],
        epochs=2, batch_size=8, learning_rate=0.2, chunk_size=2,
    )
    reference = _loop_reference(spec, global_params, features, labels, samples, seeds, epochs=2, batch_size=8, lr=0.2)
    # Assert
    np.testing.assert_allclose(stacked, reference, atol=1e-5)
    assert losses.shape == (5,) and np.isfinite(losses).all()
    assert not np.allclose(stacked[0], global_params)


def test_chunk_size_does_not_change_results() -> None:
    rng = np.random.default_rng(3)
    spec = MLPSpec(num_features=5, hidden=4, num_classes=2)
    features = rng.normal(size=(50, 5)).astype(np.float32)
    labels = rng.integers(0, 2, size=50)
    samples = [np.arange(i * 10, i * 10 + 10) for i in range(5)]
    g = spec.init(np.random.default_rng(0))
    a, _ = train_block_sgd(spec, g, features, labels, samples, [np.random.default_rng(i) for i in range(5)],
                           epochs=1, batch_size=4, learning_rate=0.1, chunk_size=5)
    b, _ = train_block_sgd(spec, g, features, labels, samples, [np.random.default_rng(i) for i in range(5)],
                           epochs=1, batch_size=4, learning_rate=0.1, chunk_size=1)
    np.testing.assert_allclose(a, b, atol=1e-6)
