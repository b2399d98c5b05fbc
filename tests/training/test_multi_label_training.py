"""Multi-label tasks (ChestMNIST: 14 findings per image) train with the binary cross-entropy
averaged over the labels, by autograd and by the head's hand-written backward alike."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bflray.models import HeadSpec, MLPSpec
from bflray.models.outputs import correct, per_sample_loss, probabilities
from bflray.training import LocalTraining, full_gradient_sum, train_block
from bflray.training.loss import masked_losses

F, H, K = 6, 5, 4
SIZES = np.array([7, 30, 18, 10])
STARTS = np.cumsum([0, *SIZES[:-1]]).astype(np.int64)


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(0)
    n = int(SIZES.sum())
    features = (rng.normal(size=(n, F)) * 2 + 1).astype(np.float32)
    labels = (rng.random((n, K)) < 0.3).astype(np.int64)
    return torch.from_numpy(features), torch.from_numpy(labels)


class _AutogradOnly:
    """The head without its hand-written backward: the trainer falls back to autograd."""

    def __init__(self, spec: HeadSpec) -> None:
        self._spec = spec

    def __getattr__(self, name: str) -> object:
        if name in ("prepare_epoch", "train_step"):
            raise AttributeError(name)
        return getattr(self._spec, name)


def test_the_per_sample_loss_is_torch_bce_averaged_over_labels_and_cross_entropy_for_class_ids() -> None:
    logits = torch.randn(3, 5, K, generator=torch.Generator().manual_seed(1))
    targets = (torch.rand(3, 5, K, generator=torch.Generator().manual_seed(2)) < 0.5).long()
    expected = torch.nn.BCEWithLogitsLoss(reduction="none")(logits, targets.float()).mean(dim=-1)
    torch.testing.assert_close(per_sample_loss(logits, targets), expected)
    ids = targets[..., 0]
    expected_ce = torch.nn.functional.cross_entropy(logits.reshape(-1, K), ids.reshape(-1), reduction="none").reshape(3, 5)
    torch.testing.assert_close(per_sample_loss(logits, ids), expected_ce)


def test_masked_losses_average_over_real_samples_only() -> None:
    logits = torch.zeros(2, 3, K)
    targets = torch.zeros(2, 3, K, dtype=torch.long)
    mask = torch.tensor([[True, True, False], [False, False, False]])
    logits[0, 2] = 100.0  # padding: a huge loss that must not count
    losses, counts = masked_losses(logits, targets, mask)
    torch.testing.assert_close(losses, torch.tensor([float(np.log(2)), 0.0]))
    torch.testing.assert_close(counts, torch.tensor([2.0, 0.0]))


def test_multi_label_accuracy_and_probabilities_are_per_label() -> None:
    logits = torch.tensor([[2.0, -1.0, 0.5, -3.0]])
    targets = torch.tensor([[1, 0, 0, 1]])
    assert float(correct(logits, targets)[0]) == pytest.approx(0.5)  # right on labels 0 and 1
    torch.testing.assert_close(probabilities(logits, multi_label=True), torch.sigmoid(logits))
    assert float(probabilities(logits, multi_label=False).sum()) == pytest.approx(1.0)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "svrg"])
def test_hand_written_multi_label_backward_equals_autograd(optimizer: str) -> None:
    # Prepare: dropout on, uneven sizes, float16 features, K = 4 labels
    x, y = _data()
    x = x.to(torch.float16)
    spec = HeadSpec(num_features=F, hidden=H, num_classes=K, dropout=0.25)
    state = spec.init(np.random.default_rng(4))
    settings = LocalTraining(optimizer=optimizer, epochs=2, batch_size=8, learning_rate=0.1, chunk_size=3)  # type: ignore[arg-type]
    full = None
    if optimizer == "svrg":
        full = full_gradient_sum(spec, state, x, y, starts=STARTS, sizes=SIZES, batch_size=8, chunk_size=3) / SIZES.sum()

    def run(model: object) -> tuple[np.ndarray, np.ndarray]:
        return train_block(model, state, x, y, hospital_ids=np.arange(4), starts=STARTS, sizes=SIZES,  # type: ignore[arg-type]
                           settings=settings, seed=1, round_=3, dropout=0.25, full_gradient=full)

    # Execute
    manual, manual_losses = run(spec)
    autograd, autograd_losses = run(_AutogradOnly(spec))
    # Assert: the same states and losses, and training moved the states
    np.testing.assert_allclose(manual, autograd, atol=1e-5)
    np.testing.assert_allclose(manual_losses, autograd_losses, atol=1e-6)
    assert np.abs(manual - state).max() > 1e-3


def test_the_full_multi_label_gradient_is_the_same_by_hand_and_by_autograd() -> None:
    x, y = _data()
    spec = HeadSpec(num_features=F, hidden=H, num_classes=K)
    state = spec.init(np.random.default_rng(5))
    kwargs = {"starts": STARTS, "sizes": SIZES, "batch_size": 8, "chunk_size": 3}
    manual = full_gradient_sum(spec, state, x, y, **kwargs)  # type: ignore[arg-type]
    autograd = full_gradient_sum(_AutogradOnly(spec), state, x, y, **kwargs)  # type: ignore[arg-type]
    np.testing.assert_allclose(manual, autograd, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("model", ["mlp", "head"])
def test_multi_label_training_lowers_the_bce_on_learnable_labels(model: str) -> None:
    # Labels are thresholds of the features: a model can learn them.
    x, _ = _data()
    y = (x[:, :K] > 1).long()
    spec = MLPSpec(num_features=F, hidden=16, num_classes=K) if model == "mlp" else HeadSpec(num_features=F, hidden=16, num_classes=K)
    state = spec.init(np.random.default_rng(0))
    settings = LocalTraining(optimizer="adam", epochs=30, batch_size=8, learning_rate=0.02, chunk_size=4)
    trained, _ = train_block(spec, state, x, y, hospital_ids=np.arange(4), starts=STARTS, sizes=SIZES,
                             settings=settings, seed=0, round_=1)

    def loss(s: np.ndarray) -> float:
        flat = torch.from_numpy(s).unsqueeze(0)
        logits = spec.forward_eval(spec.unflatten(flat[:, : spec.num_params]), flat[:, spec.num_params :], x.unsqueeze(0))[0]
        return float(per_sample_loss(logits, y).mean())

    assert loss(trained[1]) < 0.5 * loss(state)
