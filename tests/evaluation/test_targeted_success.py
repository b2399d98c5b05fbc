"""A targeted attack's success rate, on class ids and on multi-label targets."""

from __future__ import annotations

import numpy as np
import pytest

from bflray.evaluation import backdoor_rows, targeted_success


def test_targeted_flip_on_class_ids_counts_source_samples_predicted_as_target() -> None:
    labels = np.array([0, 0, 0, 1, 2])
    logits = np.eye(3)[[1, 1, 0, 1, 1]]  # two of the three source samples go to the target
    assert targeted_success("targeted_label_flip", logits, labels, target=1, source=0) == pytest.approx(2 / 3)


def test_targeted_flip_on_findings_counts_source_without_target_predicted_present() -> None:
    labels = np.array([[1, 0], [1, 0], [1, 1], [0, 0]])  # rows 0 and 1 count; row 2 has the target already
    logits = np.array([[3.0, 0.2], [3.0, -0.2], [3.0, 5.0], [0.0, 9.0]])
    assert targeted_success("targeted_label_flip", logits, labels, target=1, source=0) == pytest.approx(0.5)


def test_backdoor_counts_triggered_rows_without_the_target() -> None:
    ids = np.array([0, 1, 2, 1])
    assert backdoor_rows(ids, 1).tolist() == [True, False, True, False]
    triggered = np.eye(3)[[1, 2]]  # of the two triggered rows, one lands on the target
    assert targeted_success("backdoor", np.zeros((4, 3)), ids, target=1, source=0, triggered_logits=triggered) == 0.5
    findings = np.array([[0, 1], [0, 0], [1, 0]])
    assert backdoor_rows(findings, 1).tolist() == [False, True, True]
    hits = targeted_success("backdoor", np.zeros((3, 2)), findings, target=1, source=0,
                            triggered_logits=np.array([[0.0, 2.0], [0.0, -2.0]]))
    assert hits == 0.5


def test_a_backdoor_rate_needs_the_triggered_logits_and_a_known_kind() -> None:
    with pytest.raises(ValueError, match="triggered_logits"):
        targeted_success("backdoor", np.zeros((2, 2)), np.array([0, 1]), target=1, source=0)
    with pytest.raises(ValueError, match="kind must be one of"):
        targeted_success("label_flip", np.zeros((2, 2)), np.array([0, 1]), target=1, source=0)


def test_no_sample_to_count_gives_nan() -> None:
    labels = np.array([[0, 1], [0, 0]])  # no sample has the source finding
    assert np.isnan(targeted_success("targeted_label_flip", np.zeros((2, 2)), labels, target=1, source=0))
