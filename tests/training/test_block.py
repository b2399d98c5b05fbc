"""Vectorised block training equals training each hospital alone with plain torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from bflray.models import HeadSpec, MLPSpec
from bflray.seeding import Purpose, derive_rng
from bflray.training import LocalTraining, full_gradient_sum, iter_train_chunks, train_block

F, H, C = 6, 5, 3
SIZES = [7, 30, 18, 10]  # batch-size remainders of 7, 6, 2, 2 (none of 1: torch's BatchNorm refuses those)


def _data(sizes: list[int] = SIZES) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    n = sum(sizes)
    features = (rng.normal(size=(n, F)) * 2 + 1).astype(np.float32)
    labels = rng.integers(0, C, size=n)
    starts = np.cumsum([0, *sizes[:-1]]).astype(np.int64)
    return features, labels, starts, np.array(sizes, dtype=np.int64)


def _to_module(state: np.ndarray) -> nn.Sequential:
    bn, l1, l2 = nn.BatchNorm1d(F), nn.Linear(F, H), nn.Linear(H, C)
    parts = np.split(state, np.cumsum([F, F, F * H, H, H * C, C, F]))
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(parts[0])); bn.bias.copy_(torch.from_numpy(parts[1]))
        l1.weight.copy_(torch.from_numpy(parts[2].reshape(F, H).T)); l1.bias.copy_(torch.from_numpy(parts[3]))
        l2.weight.copy_(torch.from_numpy(parts[4].reshape(H, C).T)); l2.bias.copy_(torch.from_numpy(parts[5]))
        bn.running_mean.copy_(torch.from_numpy(parts[6])); bn.running_var.copy_(torch.from_numpy(parts[7]))
    return nn.Sequential(bn, l1, nn.ReLU(), l2)


def _from_module(m: nn.Sequential) -> np.ndarray:
    bn, l1, l2 = m[0], m[1], m[3]
    parts = [bn.weight, bn.bias, l1.weight.T, l1.bias, l2.weight.T, l2.bias, bn.running_mean, bn.running_var]
    return np.concatenate([p.detach().numpy().ravel() for p in parts])


def _reference(state, features, labels, starts, sizes, *, optimizer, epochs, batch, lr, seed, round_, full=None):  # type: ignore[no-untyped-def]
    out = []
    for h, (s, n) in enumerate(zip(starts, sizes, strict=True)):
        m = _to_module(state)
        anchor = _to_module(state)
        opt = torch.optim.Adam(m.parameters(), lr=lr) if optimizer == "adam" else torch.optim.SGD(m.parameters(), lr=lr)
        rng = derive_rng(seed, round_, h, Purpose.SHUFFLE)
        for _ in range(epochs):
            order = s + rng.permutation(n)
            for b in range(0, int(n), batch):
                rows = order[b : b + batch]
                x, y = torch.from_numpy(features[rows]), torch.from_numpy(labels[rows])
                opt.zero_grad()
                nn.functional.cross_entropy(m(x), y).backward()
                if optimizer == "svrg":
                    anchor.zero_grad()
                    nn.functional.cross_entropy(anchor(x), y).backward()
                    with torch.no_grad():
                        offset = 0
                        for p, q in zip(m.parameters(), anchor.parameters(), strict=True):
                            g = full[offset : offset + p.numel()]
                            offset += p.numel()
                            p -= lr / n * (p.grad - q.grad + torch.from_numpy(_torch_layout(g, p)))
                else:
                    opt.step()
        out.append(_from_module(m))
    return np.stack(out)


def _torch_layout(g: np.ndarray, p: torch.Tensor) -> np.ndarray:
    """A flat stacked-layout gradient slice in the torch parameter's layout (Linear weights are transposed)."""
    if p.ndim == 2:
        return g.reshape(p.shape[1], p.shape[0]).T.copy()
    return g


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "svrg"])
def test_head_training_matches_a_plain_per_hospital_torch_loop(optimizer: str) -> None:
    # Prepare: hospitals of different sizes, BatchNorm, 2 epochs, chunks smaller than the block
    features, labels, starts, sizes = _data()
    model = HeadSpec(num_features=F, hidden=H, num_classes=C)
    state = model.init(np.random.default_rng(1))
    state[-2 * F :] = np.random.default_rng(2).uniform(0.5, 1.5, size=2 * F)  # non-trivial running stats
    lr = 0.01 if optimizer == "adam" else 0.2 if optimizer == "sgd" else 2.0
    settings = LocalTraining(optimizer=optimizer, epochs=2, batch_size=8, learning_rate=lr, chunk_size=3)  # type: ignore[arg-type]
    ids = np.arange(len(sizes))
    x, y = torch.from_numpy(features), torch.from_numpy(labels)
    full = None
    if optimizer == "svrg":
        full = full_gradient_sum(model, state, x, y, starts=starts, sizes=sizes, batch_size=8, chunk_size=3) / sizes.sum()
    # Execute
    stacked, losses = train_block(
        model, state, x, y, hospital_ids=ids, starts=starts, sizes=sizes, settings=settings, seed=5, round_=2,
        full_gradient=full,
    )
    reference = _reference(state, features, labels, starts, sizes, optimizer=optimizer, epochs=2, batch=8, lr=lr,
                           seed=5, round_=2, full=full)
    # Assert
    np.testing.assert_allclose(stacked, reference, atol=1e-5)
    assert losses.shape == (4,) and np.isfinite(losses).all()
    assert not np.allclose(stacked[0], state)


def test_full_gradient_sum_is_the_sum_of_per_sample_gradients() -> None:
    features, labels, starts, sizes = _data()
    model = MLPSpec(num_features=F, hidden=H, num_classes=C)
    state = model.init(np.random.default_rng(3))
    total = full_gradient_sum(model, state, torch.from_numpy(features), torch.from_numpy(labels),
                              starts=starts, sizes=sizes, batch_size=4, chunk_size=2)
    w = torch.from_numpy(state).unsqueeze(0).requires_grad_(True)
    loss = nn.functional.cross_entropy(model.forward(w, torch.from_numpy(features).unsqueeze(0))[0],
                                       torch.from_numpy(labels), reduction="sum")
    (expected,) = torch.autograd.grad(loss, w)
    np.testing.assert_allclose(total, expected[0].numpy(), rtol=1e-4, atol=1e-4)


def test_results_do_not_depend_on_chunking_or_on_which_hospitals_share_a_block() -> None:
    features, labels, starts, sizes = _data()
    model = HeadSpec(num_features=F, hidden=H, num_classes=C, dropout=0.3)
    state = model.init(np.random.default_rng(0))
    x, y, ids = torch.from_numpy(features), torch.from_numpy(labels), np.arange(4)

    def run(chunk: int, pick: slice) -> np.ndarray:
        settings = LocalTraining(optimizer="sgd", epochs=1, batch_size=4, learning_rate=0.1, chunk_size=chunk)
        return train_block(model, state, x, y, hospital_ids=ids[pick], starts=starts[pick], sizes=sizes[pick],
                           settings=settings, seed=0, round_=1, dropout=0.3)[0]

    whole = run(4, slice(None))
    np.testing.assert_allclose(whole, run(1, slice(None)), atol=1e-6)
    np.testing.assert_allclose(whole[2:], run(4, slice(2, None)), atol=1e-6)


def test_a_hospital_that_has_run_out_of_samples_keeps_its_adam_state_and_statistics() -> None:
    features, labels, starts, sizes = _data()
    model = HeadSpec(num_features=F, hidden=H, num_classes=C)
    state = model.init(np.random.default_rng(0))
    settings = LocalTraining(optimizer="adam", epochs=1, batch_size=8, learning_rate=0.01)
    x, y = torch.from_numpy(features), torch.from_numpy(labels)
    alone = train_block(model, state, x, y, hospital_ids=np.array([0]), starts=starts[:1], sizes=sizes[:1],
                        settings=settings, seed=0, round_=1)[0]
    together = train_block(model, state, x, y, hospital_ids=np.arange(4), starts=starts, sizes=sizes,
                           settings=settings, seed=0, round_=1)[0]
    np.testing.assert_allclose(together[0], alone[0], atol=1e-6)


class _AutogradOnly:
    """The head without its hand-written backward: the trainer falls back to autograd."""

    def __init__(self, spec: HeadSpec) -> None:
        self._spec = spec

    def __getattr__(self, name: str) -> object:
        if name in ("prepare_epoch", "train_step"):
            raise AttributeError(name)
        return getattr(self._spec, name)


def _targets(labels: np.ndarray, multi_label: bool) -> torch.Tensor:
    """Class ids, or C 0/1 targets per sample (a multi-label task: BCE averaged over labels)."""
    if not multi_label:
        return torch.from_numpy(labels)
    return torch.from_numpy((np.random.default_rng(9).random((len(labels), C)) < 0.3).astype(np.int64))


@pytest.mark.parametrize("multi_label", [False, True])
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "svrg"])
def test_hand_written_backward_equals_autograd_with_dropout_and_float16_features(optimizer: str, multi_label: bool) -> None:
    # Prepare: dropout on, uneven sizes, features stored as float16
    features, labels, starts, sizes = _data()
    spec = HeadSpec(num_features=F, hidden=H, num_classes=C, dropout=0.25)
    state = spec.init(np.random.default_rng(4))
    x, y = torch.from_numpy(features.astype(np.float16)), _targets(labels, multi_label)
    settings = LocalTraining(optimizer=optimizer, epochs=2, batch_size=8, learning_rate=0.1, chunk_size=3)  # type: ignore[arg-type]
    full = None
    if optimizer == "svrg":
        full = full_gradient_sum(spec, state, x, y, starts=starts, sizes=sizes, batch_size=8, chunk_size=3) / sizes.sum()

    def run(model: object) -> tuple[np.ndarray, np.ndarray]:
        return train_block(model, state, x, y, hospital_ids=np.arange(4), starts=starts, sizes=sizes,  # type: ignore[arg-type]
                           settings=settings, seed=1, round_=3, dropout=0.25, full_gradient=full)

    # Execute
    manual, manual_losses = run(spec)
    autograd, autograd_losses = run(_AutogradOnly(spec))
    # Assert
    np.testing.assert_allclose(manual, autograd, atol=1e-5)
    np.testing.assert_allclose(manual_losses, autograd_losses, atol=1e-6)


@pytest.mark.parametrize("multi_label", [False, True])
def test_full_gradient_of_the_head_is_the_same_by_hand_and_by_autograd(multi_label: bool) -> None:
    features, labels, starts, sizes = _data()
    spec = HeadSpec(num_features=F, hidden=H, num_classes=C)
    state = spec.init(np.random.default_rng(5))
    x, y = torch.from_numpy(features), _targets(labels, multi_label)
    kwargs = {"starts": starts, "sizes": sizes, "batch_size": 8, "chunk_size": 3}
    manual = full_gradient_sum(spec, state, x, y, **kwargs)  # type: ignore[arg-type]
    autograd = full_gradient_sum(_AutogradOnly(spec), state, x, y, **kwargs)  # type: ignore[arg-type]
    np.testing.assert_allclose(manual, autograd, rtol=1e-5, atol=1e-5)


def test_training_never_writes_to_the_global_state() -> None:
    # A chunk of one hospital once trained in a view of the caller's array.
    features, labels, starts, sizes = _data()
    model = HeadSpec(num_features=F, hidden=H, num_classes=C)
    state = model.init(np.random.default_rng(0))
    before = state.copy()
    settings = LocalTraining(optimizer="sgd", epochs=1, batch_size=8, learning_rate=0.5, chunk_size=1)
    train_block(model, state, torch.from_numpy(features), torch.from_numpy(labels), hospital_ids=np.arange(4),
                starts=starts, sizes=sizes, settings=settings, seed=0, round_=1)
    np.testing.assert_array_equal(state, before)


def test_chunk_weighted_sum_is_fedavg_numerator_of_its_states() -> None:
    features, labels, starts, sizes = _data()
    model = HeadSpec(num_features=F, hidden=H, num_classes=C, dropout=0.1)
    state = model.init(np.random.default_rng(0))
    settings = LocalTraining(optimizer="sgd", epochs=1, batch_size=8, learning_rate=0.1, chunk_size=3)
    weights = sizes.astype(np.float64)
    total, states = np.zeros(model.size), []
    for chunk in iter_train_chunks(model, state, torch.from_numpy(features), torch.from_numpy(labels),
                                   hospital_ids=np.arange(4), starts=starts, sizes=sizes, settings=settings, seed=0,
                                   round_=1, dropout=0.1):
        total += chunk.weighted_sum(weights[chunk.lo : chunk.hi])
        states.append(chunk.states)
    np.testing.assert_allclose(total, weights @ np.concatenate(states).astype(np.float64), rtol=1e-6, atol=1e-5)


def test_a_chunk_read_after_the_next_one_was_trained_raises_instead_of_answering_wrong() -> None:
    features, labels, starts, sizes = _data()
    model = HeadSpec(num_features=F, hidden=H, num_classes=C)
    settings = LocalTraining(optimizer="sgd", epochs=1, batch_size=8, learning_rate=0.1, chunk_size=2)
    chunks = list(iter_train_chunks(model, model.init(np.random.default_rng(0)), torch.from_numpy(features),
                                    torch.from_numpy(labels), hospital_ids=np.arange(4), starts=starts, sizes=sizes,
                                    settings=settings, seed=0, round_=1))
    with pytest.raises(RuntimeError, match="overwritten by the next chunk"):
        chunks[0].states


def test_chunks_trained_on_several_threads_equal_one_thread_and_restore_torch_threads() -> None:
    features, labels, starts, sizes = _data()
    model = HeadSpec(num_features=F, hidden=H, num_classes=C, dropout=0.2)
    state = model.init(np.random.default_rng(6))
    settings = LocalTraining(optimizer="sgd", epochs=2, batch_size=8, learning_rate=0.2, chunk_size=1)
    x, y = torch.from_numpy(features), torch.from_numpy(labels)
    threads = torch.get_num_threads()

    def run(workers: int) -> np.ndarray:
        return train_block(model, state, x, y, hospital_ids=np.arange(4), starts=starts, sizes=sizes,
                           settings=settings, seed=2, round_=1, dropout=0.2, workers=workers)[0]

    np.testing.assert_allclose(run(3), run(1), atol=1e-6)
    assert torch.get_num_threads() == threads


def test_head_training_with_only_full_batches_matches_the_torch_loop() -> None:
    # Every batch full: the BatchNorm running statistics take their closed-form path.
    features, labels, starts, sizes = _data([16, 8, 24])
    model = HeadSpec(num_features=F, hidden=H, num_classes=C)
    state = model.init(np.random.default_rng(1))
    settings = LocalTraining(optimizer="sgd", epochs=2, batch_size=8, learning_rate=0.2, chunk_size=2)
    stacked, _ = train_block(model, state, torch.from_numpy(features), torch.from_numpy(labels),
                             hospital_ids=np.arange(3), starts=starts, sizes=sizes, settings=settings, seed=5, round_=2)
    reference = _reference(state, features, labels, starts, sizes, optimizer="sgd", epochs=2, batch=8, lr=0.2,
                           seed=5, round_=2)
    np.testing.assert_allclose(stacked, reference, atol=1e-5)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_block_with_no_hospital_in_the_cohort_trains_nothing(workers: int) -> None:
    features, labels, starts, sizes = _data()
    model = HeadSpec(num_features=F, hidden=H, num_classes=C)
    settings = LocalTraining(optimizer="sgd", epochs=1, batch_size=8, learning_rate=0.1, chunk_size=2)
    chunks = list(iter_train_chunks(model, model.init(np.random.default_rng(0)), torch.from_numpy(features),
                                    torch.from_numpy(labels), hospital_ids=np.arange(0), starts=starts[:0],
                                    sizes=sizes[:0], settings=settings, seed=0, round_=1, workers=workers))
    assert chunks == []


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU (run on a GPU machine)")
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "svrg"])
def test_training_on_the_gpu_equals_training_on_the_cpu(optimizer: str) -> None:
    features, labels, starts, sizes = _data()
    model = HeadSpec(num_features=F, hidden=H, num_classes=C, dropout=0.2)
    state = model.init(np.random.default_rng(1))
    settings = LocalTraining(optimizer=optimizer, epochs=2, batch_size=8, learning_rate=0.1, chunk_size=3)
    x, y = torch.from_numpy(features), torch.from_numpy(labels)
    full = None
    if optimizer == "svrg":
        full = full_gradient_sum(model, state, x, y, starts=starts, sizes=sizes, batch_size=8, chunk_size=3)
        full = (full / sizes.sum()).astype(np.float32)
    kwargs = dict(hospital_ids=np.arange(4), starts=starts, sizes=sizes, settings=settings, seed=3, round_=2,
                  dropout=0.2, full_gradient=full)
    on_cpu = train_block(model, state, x, y, **kwargs)
    on_gpu = train_block(model, state, x.cuda(), y.cuda(), **kwargs)
    np.testing.assert_allclose(on_gpu[0], on_cpu[0], atol=1e-5)
    np.testing.assert_allclose(on_gpu[1], on_cpu[1], atol=1e-5)
