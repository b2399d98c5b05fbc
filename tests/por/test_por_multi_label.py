"""Proof of Reasoning on a multi-label task (ChestMNIST's findings): EDI transactions carry
0/1 targets, validation recomputes per-label sigmoids, and every score treats the labels as
binary questions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bflray.por import EDITransaction, validate_transactions
from bflray.por.edi import EDIError
from bflray.por.policies import accuracy, brier, log_likelihood, rank_points
from bflray.por.ranking import score_classifiers

C, M, K, W, D = 3, 2, 4, 5, 7


def _logits(states: torch.Tensor, kappa: torch.Tensor) -> torch.Tensor:
    """A toy classifier: logits = the first C features of each datapoint's mean token, shifted by
    the state's first C entries."""
    x = kappa.mean(dim=-2)[..., :C]
    shift = states[:, :C]
    return x + (shift[:, None, :] if kappa.dim() == 4 else shift[:, None, :])


def _tx(hospital: int, *, multi: bool = True, seed: int = 0) -> EDITransaction:
    rng = np.random.default_rng(seed + hospital)
    weights = rng.normal(size=D).astype(np.float32)
    kappa = rng.normal(size=(M, K, W)).astype(np.float32)
    logits = _logits(torch.from_numpy(weights)[None], torch.from_numpy(kappa)[None])[0]
    if multi:
        outputs = torch.sigmoid(logits).numpy()
        labels = (rng.random((M, C)) < 0.5).astype(np.int64)
    else:
        outputs = torch.softmax(logits, dim=-1).numpy()
        labels = rng.integers(0, C, size=M)
    return EDITransaction(round=2, hospital=hospital, weights=weights, kappa=kappa, outputs=outputs, labels=labels)


def test_a_multi_label_transaction_round_trips_and_hashes_apart_from_class_ids() -> None:
    tx = _tx(1)
    back = EDITransaction.decode(tx.encode())
    assert back.multi_label and back.labels.shape == (M, C)
    np.testing.assert_array_equal(back.labels, tx.labels)
    assert back.hash == tx.hash
    as_ids = EDITransaction(round=2, hospital=1, weights=tx.weights, kappa=tx.kappa, outputs=tx.outputs,
                            labels=tx.labels[:, 0].copy())
    assert as_ids.encode()[:4] == b"EDI1" and tx.encode()[:4] == b"EDIM"
    assert as_ids.hash != tx.hash


def test_labels_of_neither_shape_are_refused() -> None:
    tx = _tx(1)
    with pytest.raises(EDIError, match="labels"):
        EDITransaction(round=2, hospital=1, weights=tx.weights, kappa=tx.kappa, outputs=tx.outputs,
                       labels=np.zeros((M, C + 1), dtype=np.int64))


def test_validation_recomputes_sigmoids_and_names_what_is_wrong() -> None:
    good = [_tx(h) for h in range(4)]
    tampered = EDITransaction(round=2, hospital=4, weights=good[0].weights, kappa=good[0].kappa,
                              outputs=np.clip(good[0].outputs + 0.01, 0, 1), labels=good[0].labels)
    not_binary = EDITransaction(round=2, hospital=5, weights=good[1].weights, kappa=good[1].kappa,
                                outputs=good[1].outputs, labels=good[1].labels * 2)
    ids = _tx(6, multi=False)
    result = validate_transactions([*good, tampered, not_binary, ids], _logits, epsilon=1e-4, num_classes=C)
    assert result.valid.tolist() == [True] * 4 + [False] * 3
    assert result.max_error[:4].max() < 1e-6
    assert "outputs differ" in (result.reasons[4] or "")
    assert result.reasons[5] == "multi-label targets other than 0 and 1"
    assert result.reasons[6] == "labels are class ids, the round's are multi-label targets"


def test_multi_label_scores_treat_each_label_as_a_binary_question() -> None:
    p = torch.tensor([[0.9, 0.2, 0.5, 0.4]])
    y = torch.tensor([[1, 0, 1, 1]])
    # right on labels 0 and 1, a tie on 2, wrong on 3
    assert float(rank_points(p, y)[0]) == pytest.approx(2 + 2 + 1.5 + 1)
    assert float(accuracy(p, y)[0]) == pytest.approx(0.5)
    assert float(log_likelihood(p, y)[0]) == pytest.approx(np.log(0.9) + np.log(0.8) + np.log(0.5) + np.log(0.4))
    assert float(brier(p, y)[0]) == pytest.approx(-(0.01 + 0.04 + 0.25 + 0.36))


def test_a_classifier_that_answers_every_label_right_ranks_first_on_multi_label_datapoints() -> None:
    rng = np.random.default_rng(0)
    kappa = torch.from_numpy(rng.normal(size=(40, K, W)).astype(np.float32))
    labels = (kappa.mean(dim=-2)[:, :C] > 0).long()  # the toy classifier with shift 0 is right on every label
    states = torch.zeros(3, D)
    states[1, :C] = 0.5  # biased towards "present"
    states[2, :C] = -3.0  # says "absent" almost everywhere
    matrix = score_classifiers(states, kappa, labels, _logits, rank_points)
    assert matrix.shape == (3, 40)
    totals = matrix.sum(dim=1)
    assert float(totals[0]) == pytest.approx(40 * 2 * C)
    assert totals[0] > totals[1] > totals[2]
