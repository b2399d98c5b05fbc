"""bflray.evaluation: hand-worked examples, agreement with scikit-learn, NaN cases and error messages."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy.special import expit, softmax
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

from bflray.evaluation import (
    attack_success_rate,
    classification_metrics,
    detection_rates,
    robustness_degradation,
    worst_decile,
)

KEYS = {"accuracy", "precision", "recall", "f1", "auroc"}

# Six samples, three classes. The logits are logs of probability rows, so the softmax gives the rows back.
HAND_PROBABILITIES = np.array(
    [
        [0.7, 0.2, 0.1],  # label 0, predicted 0
        [0.3, 0.6, 0.1],  # label 0, predicted 1
        [0.2, 0.5, 0.3],  # label 1, predicted 1
        [0.1, 0.8, 0.1],  # label 1, predicted 1
        [0.5, 0.1, 0.4],  # label 2, predicted 0
        [0.1, 0.3, 0.6],  # label 2, predicted 2
    ]
)
HAND_LABELS = np.array([0, 0, 1, 1, 2, 2])


# --- classification_metrics, single-label ---------------------------------------------------------


def test_three_class_example_worked_out_by_hand() -> None:
    # Per class (precision, recall, F1): 0: (1/2, 1/2, 1/2); 1: (2/3, 1, 4/5); 2: (1, 1/2, 2/3).
    # One-vs-rest AUROC: class 0 beats 7 of its 8 positive-negative pairs, class 1 7 of 8, class 2 all 8.
    metrics = classification_metrics(np.log(HAND_PROBABILITIES), HAND_LABELS)

    assert set(metrics) == KEYS
    assert all(type(value) is float for value in metrics.values())
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["precision"] == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert metrics["recall"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    assert metrics["f1"] == pytest.approx((1 / 2 + 4 / 5 + 2 / 3) / 3)
    assert metrics["auroc"] == pytest.approx((7 / 8 + 7 / 8 + 1) / 3)


def test_a_perfect_classifier_scores_one_everywhere() -> None:
    labels = np.array([0, 1, 2, 3, 1, 2, 0, 3])

    metrics = classification_metrics(10.0 * np.eye(4)[labels], labels)

    assert metrics == pytest.approx(dict.fromkeys(KEYS, 1.0))


def test_a_constant_classifier_has_auroc_one_half() -> None:
    labels = np.array([0, 1, 2, 0, 1, 2])

    metrics = classification_metrics(np.zeros((6, 3)), labels)

    assert metrics["auroc"] == pytest.approx(0.5)
    assert metrics["accuracy"] == pytest.approx(1 / 3)  # every tie goes to class 0


def test_a_class_never_predicted_has_precision_zero() -> None:
    # Everything predicted as class 0: class 0 (1/3, 1, 1/2), classes 1 and 2 (0, 0, 0).
    # Class 3 is neither a label nor a prediction, so it is left out of the averages.
    scores = np.tile([5.0, 0.0, 0.0, -1.0], (3, 1))

    metrics = classification_metrics(scores, np.array([0, 1, 2]))

    assert metrics["precision"] == pytest.approx(1 / 9)
    assert metrics["recall"] == pytest.approx(1 / 3)
    assert metrics["f1"] == pytest.approx(1 / 6)


def test_auroc_skips_classes_without_both_positives_and_negatives() -> None:
    # Classes 0 and 1 only: class 2 has no positive and is skipped; classes 0 and 1 rank perfectly.
    scores = np.array([[2.0, 0.0, 1.0], [0.0, 2.0, 1.0], [3.0, 0.0, 0.0], [0.0, 3.0, 0.0]])

    assert classification_metrics(scores, np.array([0, 1, 0, 1]))["auroc"] == pytest.approx(1.0)


def test_auroc_is_nan_when_every_label_is_the_same_class() -> None:
    metrics = classification_metrics(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([1, 1]))

    assert math.isnan(metrics["auroc"])
    assert metrics["accuracy"] == pytest.approx(0.5)


def test_huge_logits_neither_overflow_nor_warn() -> None:
    scores = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0], [0.0, 0.0, 1e300]])

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metrics = classification_metrics(scores, np.array([0, 1, 2]))

    assert metrics["accuracy"] == 1.0
    assert all(math.isfinite(value) for value in metrics.values())


def test_integral_float_labels_are_accepted() -> None:
    as_ints = classification_metrics(np.log(HAND_PROBABILITIES), HAND_LABELS)

    assert classification_metrics(np.log(HAND_PROBABILITIES), HAND_LABELS.astype(float)) == as_ints


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_single_label_agrees_with_sklearn_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores, labels = rng.normal(size=(300, 5)), rng.integers(0, 5, size=300)
    predictions = scores.argmax(axis=1)

    metrics = classification_metrics(scores, labels)

    assert metrics["accuracy"] == pytest.approx(np.mean(predictions == labels))
    assert metrics["precision"] == pytest.approx(precision_score(labels, predictions, average="macro", zero_division=0))
    assert metrics["recall"] == pytest.approx(recall_score(labels, predictions, average="macro", zero_division=0))
    assert metrics["f1"] == pytest.approx(f1_score(labels, predictions, average="macro", zero_division=0))
    expected_auroc = roc_auc_score(labels, softmax(scores, axis=1), multi_class="ovr", average="macro")
    assert metrics["auroc"] == pytest.approx(expected_auroc)


def test_single_label_agrees_with_sklearn_with_tied_scores_and_a_missing_class() -> None:
    # Integer logits tie often; class 3 never occurs in the labels, so its AUROC is left out.
    rng = np.random.default_rng(7)
    scores, labels = rng.integers(-2, 3, size=(200, 4)).astype(float), rng.integers(0, 3, size=200)
    predictions = scores.argmax(axis=1)
    probabilities = softmax(scores, axis=1)

    metrics = classification_metrics(scores, labels)

    assert metrics["f1"] == pytest.approx(f1_score(labels, predictions, average="macro", zero_division=0))
    per_class = [roc_auc_score(labels == k, probabilities[:, k]) for k in range(3)]
    assert metrics["auroc"] == pytest.approx(np.mean(per_class))


# --- classification_metrics, multi-label ----------------------------------------------------------


def test_multi_label_example_worked_out_by_hand() -> None:
    # Predicted present where the logit is positive; a logit of 0 (probability exactly 0.5) is absent.
    # Label 0: predicted {0, 2}, true {0, 3}: precision = recall = F1 = 1/2; AUROC 3 of 4 pairs.
    # Label 1: predicted = true = {1, 2}: all 1; AUROC 1. Element-wise 6 of 8 decisions are right.
    scores = np.array([[2.0, -1.0], [-1.0, 3.0], [1.0, 1.0], [0.0, -3.0]])
    labels = np.array([[1, 0], [0, 1], [0, 1], [1, 0]])

    metrics = classification_metrics(scores, labels, multi_label=True)

    assert metrics["accuracy"] == pytest.approx(6 / 8)
    assert metrics["precision"] == pytest.approx(3 / 4)
    assert metrics["recall"] == pytest.approx(3 / 4)
    assert metrics["f1"] == pytest.approx(3 / 4)
    assert metrics["auroc"] == pytest.approx((3 / 4 + 1) / 2)


def test_a_perfect_multi_label_classifier_scores_one_everywhere() -> None:
    labels = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]])

    metrics = classification_metrics(np.where(labels == 1, 4.0, -4.0), labels, multi_label=True)

    assert metrics == pytest.approx(dict.fromkeys(KEYS, 1.0))


def test_a_constant_multi_label_classifier_has_auroc_one_half() -> None:
    labels = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=bool)

    assert classification_metrics(np.ones((4, 2)), labels, multi_label=True)["auroc"] == pytest.approx(0.5)


def test_multi_label_auroc_skips_labels_with_one_class_and_is_nan_without_any() -> None:
    scores = np.array([[1.0, 0.5], [-1.0, 0.2], [2.0, -0.3]])
    one_usable = np.array([[1, 0], [0, 0], [1, 0]])  # label 1 never present

    assert classification_metrics(scores, one_usable, multi_label=True)["auroc"] == pytest.approx(1.0)
    assert math.isnan(classification_metrics(scores, np.ones((3, 2)), multi_label=True)["auroc"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_multi_label_agrees_with_sklearn_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(250, 6))
    labels = (rng.uniform(size=(250, 6)) < expit(scores + rng.normal(size=(250, 6)))).astype(int)
    predictions = (expit(scores) > 0.5).astype(int)

    metrics = classification_metrics(scores, labels, multi_label=True)

    assert metrics["accuracy"] == pytest.approx(np.mean(predictions == labels))
    assert metrics["precision"] == pytest.approx(precision_score(labels, predictions, average="macro", zero_division=0))
    assert metrics["recall"] == pytest.approx(recall_score(labels, predictions, average="macro", zero_division=0))
    assert metrics["f1"] == pytest.approx(f1_score(labels, predictions, average="macro", zero_division=0))
    assert metrics["auroc"] == pytest.approx(roc_auc_score(labels, expit(scores), average="macro"))


# --- classification_metrics, errors ---------------------------------------------------------------


def test_empty_scores_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"scores must hold at least one sample, got N = 0"):
        classification_metrics(np.zeros((0, 3)), np.zeros(0, dtype=int))


@pytest.mark.parametrize(
    ("scores", "match"),
    [
        (np.zeros(3), r"scores must be an N × K array, got shape \(3,\)"),
        (np.zeros((3, 0)), r"scores must hold at least one class, got K = 0"),
        (np.array([[0.0, np.nan]]), r"scores must be finite"),
        (np.array([[0.0, np.inf]]), r"scores must be finite"),
    ],
)
def test_malformed_scores_are_rejected(scores: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        classification_metrics(scores, np.zeros(len(scores), dtype=int))


def test_labels_of_the_wrong_length_are_rejected_naming_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\) .* of shape \(4, 3\), got shape \(5,\)"):
        classification_metrics(np.zeros((4, 3)), np.zeros(5, dtype=int))


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (np.array([0, 3, -1]), r"labels must be class ids in \[0, 3\), got \[-1, 3\]"),
        (np.array([0.0, 1.5, 2.0]), r"labels must hold integer class ids, got \[1.5\]"),
        (np.array(["a", "b", "c"]), r"labels must hold integer class ids, got dtype <U1"),
    ],
)
def test_bad_single_label_labels_are_rejected(labels: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        classification_metrics(np.zeros((3, 3)), labels)


def test_multi_label_labels_must_match_the_scores_shape() -> None:
    with pytest.raises(ValueError, match=r"labels must have the shape of scores \(2, 3\) .* got shape \(2,\)"):
        classification_metrics(np.zeros((2, 3)), np.array([0, 1]), multi_label=True)


def test_multi_label_labels_must_be_zero_or_one() -> None:
    with pytest.raises(ValueError, match=r"labels must hold only 0 and 1, got \[2\]"):
        classification_metrics(np.zeros((2, 2)), np.array([[0, 1], [2, 1]]), multi_label=True)


# --- attack_success_rate ------------------------------------------------------------------------------

PREDICTIONS = np.array([1, 1, 1, 0, 1, 2])
LABELS = np.array([0, 1, 2, 1, 0, 2])


def test_backdoor_success_counts_only_samples_outside_the_target_class() -> None:
    # Samples 0, 2, 4, 5 are not of class 1; three of them are predicted as 1.
    assert attack_success_rate(PREDICTIONS, LABELS, target=1) == pytest.approx(3 / 4)


@pytest.mark.parametrize(("source", "expected"), [(0, 1.0), (2, 0.5)])
def test_label_flip_success_counts_only_samples_of_the_source_class(source: int, expected: float) -> None:
    assert attack_success_rate(PREDICTIONS, LABELS, target=1, source=source) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("labels", "source"),
    [(np.array([1, 1, 1]), None), (np.array([1, 2, 2]), 0), (np.array([], dtype=int), None)],
)
def test_attack_success_rate_is_nan_without_an_attacked_sample(labels: np.ndarray, source: int | None) -> None:
    predictions = np.ones(len(labels), dtype=int)

    assert math.isnan(attack_success_rate(predictions, labels, target=1, source=source))


def test_attack_success_rate_rejects_arrays_of_different_shapes() -> None:
    with pytest.raises(ValueError, match=r"predictions and labels must have the same shape, got \(3,\) and \(2,\)"):
        attack_success_rate(np.zeros(3, dtype=int), np.zeros(2, dtype=int), target=1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"target": -1}, r"target=-1 must be a non-negative integer class id"),
        ({"target": True}, r"target=True must be a non-negative integer class id"),
        ({"target": 1.0}, r"target=1.0 must be a non-negative integer class id"),
        ({"target": 1, "source": 1}, r"source=1 must differ from target=1"),
        ({"target": 1, "source": -2}, r"source=-2 must be a non-negative integer class id"),
    ],
)
def test_attack_success_rate_rejects_bad_classes(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        attack_success_rate(PREDICTIONS, LABELS, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("predictions", "match"),
    [
        (np.array([0.5, 1.0]), r"predictions must hold non-negative integer class ids, got \[0.5\]"),
        (np.array([0, -3]), r"predictions must hold non-negative integer class ids, got \[-3\]"),
        (np.zeros((2, 1), dtype=int), r"predictions must be 1-D class ids, got shape \(2, 1\)"),
    ],
)
def test_attack_success_rate_rejects_bad_predictions(predictions: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        attack_success_rate(predictions, np.array([0, 1]), target=1)


# --- detection_rates ----------------------------------------------------------------------------------


def test_detection_and_false_alarm_rates_by_hand() -> None:
    flagged = np.array([True, False, True, False, True])
    malicious = np.array([True, True, False, False, False])  # flagged: 1 of 2 malicious, 2 of 3 honest

    detection, false_alarm = detection_rates(flagged, malicious)

    assert detection == pytest.approx(1 / 2)
    assert false_alarm == pytest.approx(2 / 3)


def test_detection_rates_accept_zero_one_arrays() -> None:
    assert detection_rates(np.array([1, 0, 1]), np.array([1, 1, 0])) == pytest.approx((0.5, 1.0))


def test_detection_rate_is_nan_without_malicious_hospitals() -> None:
    detection, false_alarm = detection_rates(np.array([True, False]), np.array([False, False]))

    assert math.isnan(detection)
    assert false_alarm == pytest.approx(0.5)


def test_false_alarm_rate_is_nan_without_honest_hospitals() -> None:
    detection, false_alarm = detection_rates(np.array([True, False]), np.array([True, True]))

    assert detection == pytest.approx(0.5)
    assert math.isnan(false_alarm)


def test_detection_rates_reject_arrays_of_different_shapes() -> None:
    with pytest.raises(ValueError, match=r"flagged and malicious must have the same shape, got \(2,\) and \(3,\)"):
        detection_rates(np.zeros(2, dtype=bool), np.zeros(3, dtype=bool))


def test_detection_rates_reject_non_boolean_values() -> None:
    with pytest.raises(ValueError, match=r"malicious must hold booleans \(or 0/1\), got \[2\]"):
        detection_rates(np.array([True, False]), np.array([0, 2]))


# --- worst_decile -------------------------------------------------------------------------------------


def test_worst_decile_of_thirty_values_is_the_mean_of_the_lowest_three() -> None:
    # 0.1 * 30 is 3.0000000000000004 in floating point: a float ceiling would take four values.
    values = np.random.default_rng(0).permutation(np.arange(1.0, 31.0))

    assert worst_decile(values) == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0.9, 0.4, 0.8], 0.4),  # fewer than ten values: still the lowest one
        (list(range(10, 0, -1)), 1.0),
        (list(range(1, 12)), 1.5),  # ⌈11 / 10⌉ = 2
        ([np.nan, 0.5, np.inf, 0.2, -np.inf], 0.2),  # non-finite values are left out
    ],
)
def test_worst_decile_by_hand(values: list[float], expected: float) -> None:
    assert worst_decile(np.array(values, dtype=float)) == pytest.approx(expected)


@pytest.mark.parametrize("values", [np.array([]), np.array([np.nan, np.inf])])
def test_worst_decile_is_nan_without_a_finite_value(values: np.ndarray) -> None:
    assert math.isnan(worst_decile(values))


def test_worst_decile_rejects_a_matrix() -> None:
    with pytest.raises(ValueError, match=r"values must be 1-D, got shape \(2, 2\)"):
        worst_decile(np.zeros((2, 2)))


# --- robustness_degradation ---------------------------------------------------------------------------


@pytest.mark.parametrize(("clean", "attacked", "expected"), [(0.9, 0.6, 0.3), (0.7, 0.75, -0.05), (0.5, 0.5, 0.0)])
def test_robustness_degradation_is_clean_minus_attacked(clean: float, attacked: float, expected: float) -> None:
    assert robustness_degradation(clean, attacked) == pytest.approx(expected)


def test_robustness_degradation_propagates_nan() -> None:
    assert math.isnan(robustness_degradation(0.9, float("nan")))


@pytest.mark.parametrize(
    ("clean", "attacked", "match"),
    [
        (90.0, 0.6, r"clean_accuracy=90.0 must lie in \[0, 1\]"),
        (0.9, -0.1, r"attacked_accuracy=-0.1 must lie in \[0, 1\]"),
        (True, 0.5, r"clean_accuracy=True must be a number"),
    ],
)
def test_robustness_degradation_rejects_what_is_not_a_fraction(clean: float, attacked: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        robustness_degradation(clean, attacked)
