"""Multi-label tasks (ChestMNIST: 14 findings per image) train with the binary cross-entropy
averaged over the labels (the head's hand-written backward is checked against autograd, on
both kinds of labels, in test_block.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bflray.models import HeadSpec, MLPSpec
from bflray.models.outputs import correct, per_sample_loss, probabilities
from bflray.training import LocalTraining, train_block
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
