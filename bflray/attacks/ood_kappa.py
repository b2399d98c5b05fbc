"""Out-of-domain encoded datapoints, a Proof of Reasoning attack (PoR paper, Sec. III-C): a
malicious hospital publishes encoded datapoints κ that no encoder made from a real image.

The paper names this gap itself: validation (eq. 1) checks only that a classifier
reproduces its own outputs on its own κ, "since inputs could originate from a different
domain, allowing potentially malicious networks to pass validation". So the attacker keeps
eq. (1) true (its outputs are recomputed by its own trained classifier on the junk κ) and
aims at the ranking (eq. 2) instead, where every classifier is scored on the pooled κ of all
valid transactions: its junk datapoints become part of everybody's exam.

Choices, and why:

- **The junk.** Gaussian noise of κ's shape (m × K × W), each of the W features drawn with
  the mean and standard deviation that feature has over the hospital's real m·K encoded
  patches. Scaled like real κ, it passes any check of magnitude or per-feature statistics
  a validator might add, yet it encodes no image: the honest classifiers never saw such
  inputs.
- **The labels** favour the attacker's own classifier: each junk datapoint is labelled with
  the class the attacker's classifier predicts on it. Keeping the true labels would make the
  junk points noise to every classifier, the attacker's included; with its own predictions
  as labels the attacker earns the full score on its m datapoints while an honest
  classifier earns only what it agrees with it by chance. Nothing checks a label beyond its
  range, since the raw image never leaves the hospital.

The draws come from a child of the hospital's ``(seed, round, hospital, MALICIOUS)`` stream
(:func:`ood_rng`), so they do not repeat the draws a model attack makes from that stream.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from bflray.attacks.registry import declare_attack
from bflray.seeding import Purpose, derive_seed_sequence

declare_attack(
    "ood_kappa", category="por",
    summary="publish out-of-domain κ (noise scaled like real κ), labelled by the own classifier's predictions",
)

Predict = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``predict(states n × D, kappa n × m × K × W) -> probabilities n × m × C``: each hospital's
classifier (its state) on its own batch of encoded datapoints."""


def ood_rng(*, seed: int, round_: int, hospital: int) -> np.random.Generator:
    """The generator of one malicious hospital's junk κ in one round."""
    child = derive_seed_sequence(seed, round_, hospital, Purpose.MALICIOUS).spawn(1)[0]
    return np.random.Generator(np.random.PCG64(child))


def out_of_domain_kappa(kappa: np.ndarray, *, rng: np.random.Generator) -> np.ndarray:
    """Junk encoded datapoints shaped and scaled like ``kappa``.

    Parameters
    ----------
    kappa:
        One hospital's real κ, float (m × K × W): m datapoints of K encoded patches of W
        features.
    rng:
        The hospital's generator for this round (:func:`ood_rng`).

    Returns
    -------
    float32 (m × K × W): independent normal draws, feature w with the mean and standard
    deviation of ``kappa[..., w]`` over its m·K patches.
    """
    kappa = np.asarray(kappa, dtype=np.float32)
    if kappa.ndim != 3 or kappa.size == 0:
        raise ValueError(f"ood_kappa: κ must be a non-empty m × K × W array, got shape {kappa.shape}")
    patches = kappa.reshape(-1, kappa.shape[-1]).astype(np.float64)
    mean, std = patches.mean(axis=0), patches.std(axis=0)
    return np.asarray(mean + std * rng.standard_normal(kappa.shape), dtype=np.float32)


def ood_tuples(
    states: np.ndarray, kappa: np.ndarray, *, predict: Predict, rngs: Sequence[np.random.Generator],
    multi_label: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The EDI tuples (κ, ŷ, y) that n malicious hospitals publish instead of their real ones.

    Parameters
    ----------
    states:
        The hospitals' classifier states as they publish them (n × D).
    kappa:
        Their real κ (n × m × K × W), which sets the junk's shape and scale.
    predict:
        The classifiers' probabilities on given κ (:data:`Predict`).
    rngs:
        One generator per hospital (:func:`ood_rng`).
    multi_label:
        A multi-label task: the outputs are per-label probabilities and each junk datapoint is
        labelled with the labels its classifier finds more likely present than not.

    Returns
    -------
    ``(kappa, outputs, labels)``: the junk κ (float32, n × m × K × W), each classifier's own
    probabilities on its junk (float32, n × m × C, so eq. (1) holds) and the class each
    predicts there (int64, n × m; multi-label: its 0/1 answers, n × m × C).
    """
    states = np.asarray(states, dtype=np.float32)
    kappa = np.asarray(kappa, dtype=np.float32)
    if kappa.ndim != 4 or len(states) != len(kappa) or len(rngs) != len(kappa):
        raise ValueError(
            f"ood_kappa: {len(states)} states, κ of shape {kappa.shape} (n × m × K × W expected) and "
            f"{len(rngs)} generators do not describe the same hospitals"
        )
    if not len(kappa):  # nobody to attack: nothing to predict, and C is unknown
        return kappa.copy(), np.zeros((0, kappa.shape[1], 0), dtype=np.float32), np.zeros((0, kappa.shape[1]), np.int64)
    junk = np.stack([out_of_domain_kappa(k, rng=rng) for k, rng in zip(kappa, rngs, strict=True)])
    outputs = np.asarray(predict(states, junk), dtype=np.float32)
    labels = (outputs > 0.5) if multi_label else outputs.argmax(axis=-1)
    return junk, outputs, labels.astype(np.int64)
