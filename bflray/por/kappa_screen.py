"""The κ screen: encoded datapoints unlike the round's real encodings leave PoR's pooled exam.

PoR's validation (PoR paper, eq. 1) checks only that a classifier reproduces its outputs on
its own κ; the paper notes that κ "could originate from a different domain". The
``ood_kappa`` attack (:mod:`bflray.attacks.ood_kappa`) uses that: its junk κ, labelled by the
attacker's own classifier, enters everybody's exam (eq. 2), where only the attacker scores
well on it. Each junk feature has the mean and spread of the real one, so no per-feature
test can tell them apart; their joint structure can. A real encoding comes out of the
encoder's blocks and last LayerNorm: its W features are strongly correlated (on the offline
digits one direction holds ~75 % of the real tokens' variance, five hold ~97 %) and
``Σ_w (κ_w − β_w) / γ_w = 0`` holds for every token, a direction of zero variance. Junk drawn
feature by feature spreads over every direction, so under the covariance of real tokens it
lies far away.

The rule (``por.kappa_screen = "mahalanobis"``), on the round's pooled κ (M × K × W: M
datapoints of K tokens of W features, from the transactions that passed eq. 1):

1. **Distance.** Under a location μ and scatter Σ fitted on some datapoints' tokens, a token
   x lies at ``d²(x) = (x − μ)ᵀ (Σ + r·I)⁻¹ (x − μ) / W`` with the ridge r = λ·tr(Σ)/W
   (λ = :data:`RIDGE`), which keeps Σ invertible and bounds how much a direction of (near)
   zero variance can weigh. A datapoint's statistic ``s`` is the median of d² over its K
   tokens, so one odd patch does not make an image odd.
2. **Concentration** (the C-steps of FAST-MCD, Rousseeuw & Van Driessen 1999, with
   datapoints as the units, since an attacker replaces whole datapoints): fit on all M; keep
   the h = ⌊M/2⌋ + 1 datapoints of smallest ``s``; refit on them; repeat until the kept set
   repeats (at most :data:`MAX_STEPS` times).
3. **Reweighting** (as MCD's reweighted estimate): measure every datapoint's
   outlyingness ``s / median(s)``, a kept datapoint under the fit *without it* (below, and in
   :func:`_statistic`); refit on the datapoints within the threshold τ and measure again,
   until the datapoints within τ are the ones fitted. Leaving a datapoint out of its own fit
   puts it on the footing of those outside the fit; without it, with few tokens per feature
   (m = 1, a handful of hospitals), honest datapoints outside the half looked up to 15 ×
   the median far only for being outside.
4. **Flag** the datapoints whose final outlyingness exceeds τ (``por.kappa_screen_threshold``,
   default 7).

Measured on the offline digits (``ood_kappa`` junk injected into real κ of runs; shared MAE
of width 32 or 64, 1 or 20 epochs; iid, dirichlet and ranges partitions; up to 3 of 8 and 2
of 6 hospitals attacking): with m = 1 and 8 hospitals (M·K = 200 tokens, W = 64), honest
datapoints reached an outlyingness of at most 2.4 without junk and 4.5 with it, junk at least
13.9; with m = 16 honest ones stayed below 2.7 and junk above 60; pools of 16 to 192
datapoints separated more widely (honest ≤ 2.7, junk ≥ 40 at 40 % junk). No honest datapoint
was flagged in any of these.

Assumptions, and what the screen does not do:

- **An honest majority of datapoints.** The fit keeps half of them; if junk is the
  majority, the real datapoints are the outliers.
- **Enough tokens.** Below :data:`MIN_TOKENS_PER_FEATURE` pooled tokens per feature the
  scatter cannot be estimated from half of them and the screen flags nothing.
- **One encoding space.** With ``mae.mode = "per_hospital"`` every hospital's κ comes from its
  own encoder and the pooled scatter mixes them, so junk stands out less: measured, junk at
  8–14 × the median in a 20-epoch run (all flagged), and one junk datapoint of 27 at 4.7
  (missed) with 3 of 8 hospitals attacking; honest ones stayed below 4.9.
- **Second-order structure only.** Junk drawn with the real tokens' full covariance would
  pass; so would real encodings of images from another domain, which the screen does not
  claim to catch.
- It judges datapoints, not classifiers: a transaction whose datapoints were left out keeps
  its classifier in the ranking, scored on the remaining exam.

Cost: O(M·K·W²) per step (a scatter, a W × W Cholesky factorisation, whitening every token)
plus O(M·K²·W) for the deleted fits; usually 3–6 steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "DELETED_SHARE", "FIT_DATAPOINTS", "KAPPA_SCREENS", "MAX_STEPS", "MIN_DATAPOINTS", "MIN_TOKENS_PER_FEATURE", "RIDGE",
    "KappaScreen", "screen_kappa",
]

KAPPA_SCREENS = ("none", "mahalanobis")
"""The values ``por.kappa_screen`` takes: no screen, or the rule of this module."""

RIDGE = 1e-3
"""λ: the ridge added to Σ, as a share of its mean eigenvalue. Smaller lets the directions of
(near) zero variance, where junk stands out most, weigh more, and the noise of Σ's weakest
estimated directions too. Measured at m = 1, 8 hospitals, W = 64 (highest honest / lowest junk
outlyingness): 3e-4: 4.5 / 14.2; 1e-3: 4.4 / 13.9; 1e-2: 3.8 / 9.4; at m = 16 (W = 32) junk's
lowest fell from 80 to 60 to 33 over the same λ."""

MAX_STEPS = 20
"""Concentration steps at most, and as many reweighting steps (both usually settle in two or
three)."""

MIN_DATAPOINTS = 3
"""Fewer pooled datapoints than this have no majority to stand out from: nothing is flagged."""

MIN_TOKENS_PER_FEATURE = 3.0
"""Fewer pooled tokens than this many per feature (M·K < 3·W) are too few to fit a W × W
scatter on half of them: nothing is flagged. Measured at m = 1, W = 64, K = 25: with 8
hospitals (200 tokens) the screen separated as the module docstring says; with 6 (150
tokens) 0.2 % of honest datapoints went above τ = 7 and junk fell to 2.7."""

FIT_DATAPOINTS = 2_000
"""A pool larger than this is fitted on this many of its datapoints, evenly spaced in pool order
(hospital order), and every datapoint is then measured once under the fit: the steps cost
O(FIT_DATAPOINTS) instead of O(M). Measured at M = 10,000 (K = 25, W = 64, tokens of rank 8 plus
noise, 20 % junk; 2 vCPUs at load 2.5): 4.3 s fitting on all, 0.9 s on the subset, which flagged
every junk datapoint and no real one."""

DELETED_SHARE = 0.01
"""A kept datapoint is measured under the fit without it (see :func:`_statistic`) only while its
K tokens are at least this share of the fit's tokens; below that its own weight on the fit is
too small to matter and the plain distance is used."""

_CHUNK_TOKENS = 65_536  # tokens whitened at once: bounds the float64 working memory (~W × 0.5 MB)


@dataclass(frozen=True)
class KappaScreen:
    """Per pooled datapoint, in the order given: whether the screen flagged it, and its
    outlyingness ``s / median(s)`` after reweighting (about 1 is typical; the threshold
    decides); ``steps``: the concentration and reweighting steps taken (0: it abstained)."""

    flagged: np.ndarray
    outlyingness: np.ndarray
    steps: int


def screen_kappa(
    kappa: np.ndarray, *, threshold: float, ridge: float = RIDGE, max_steps: int = MAX_STEPS
) -> KappaScreen:
    """Flag the encoded datapoints whose joint structure is unlike the majority's (see the
    module docstring for the rule).

    Parameters
    ----------
    kappa:
        The round's pooled encoded datapoints, float (M × K × W), all finite.
    threshold:
        τ > 1: a datapoint is flagged when its statistic exceeds τ times the median one.
    ridge:
        λ > 0, the ridge as a share of Σ's mean eigenvalue.
    max_steps:
        Concentration steps at most (≥ 1).

    Returns
    -------
    :class:`KappaScreen`; with fewer than :data:`MIN_DATAPOINTS` datapoints or fewer than
    :data:`MIN_TOKENS_PER_FEATURE` tokens per feature nothing is flagged and every
    outlyingness is 1.
    """
    if not threshold > 1.0:
        raise ValueError(f"κ screen: threshold must be > 1 (a multiple of the median statistic), got {threshold}")
    if not ridge > 0.0 or max_steps < 1:
        raise ValueError(f"κ screen: ridge must be > 0 and max_steps ≥ 1, got ridge={ridge}, max_steps={max_steps}")
    x = np.asarray(kappa, dtype=np.float64)
    if x.ndim != 3 or 0 in x.shape[1:]:
        raise ValueError(f"κ screen: κ must be an M × K × W array with K, W ≥ 1, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("κ screen: κ contains NaN or Inf (validation should have refused its transaction)")
    m = x.shape[0]
    if m < MIN_DATAPOINTS or m * x.shape[1] < MIN_TOKENS_PER_FEATURE * x.shape[2]:
        return KappaScreen(np.zeros(m, dtype=bool), np.ones(m), steps=0)
    if m <= FIT_DATAPOINTS:
        return _screen(x, threshold=threshold, ridge=ridge, max_steps=max_steps)
    # A large pool: fit on an evenly spaced subset, then measure every datapoint under that fit.
    subset = np.unique(np.linspace(0, m - 1, FIT_DATAPOINTS).round().astype(np.int64))
    fitted = _screen(x[subset], threshold=threshold, ridge=ridge, max_steps=max_steps)
    outlyingness = _outlyingness(_statistic(x, subset[~fitted.flagged], ridge, deleted=True))
    return KappaScreen(outlyingness > threshold, outlyingness, steps=fitted.steps + 1)


def _screen(x: np.ndarray, *, threshold: float, ridge: float, max_steps: int) -> KappaScreen:
    """The rule of the module docstring on all of ``x`` (M × K × W, float64, enough tokens)."""
    m = x.shape[0]
    # Concentration: in-sample distances, so each step can only tighten the half it keeps.
    kept = np.arange(m)
    half = m // 2 + 1
    seen: set[bytes] = set()
    steps = 0
    while steps < max_steps and kept.tobytes() not in seen:
        seen.add(kept.tobytes())
        statistic = _statistic(x, kept, ridge, deleted=False)
        kept = np.sort(np.argsort(statistic, kind="stable")[:half])
        steps += 1
    # Reweighting: deleted-fit distances, until the datapoints within τ are those the fit used.
    seen.clear()
    while True:
        outlyingness = _outlyingness(_statistic(x, kept, ridge, deleted=True))
        within = np.flatnonzero(outlyingness <= threshold)
        if np.array_equal(within, kept) or within.tobytes() in seen or steps >= 2 * max_steps:
            break
        seen.add(kept.tobytes())
        kept = within
        steps += 1
    return KappaScreen(outlyingness > threshold, outlyingness, steps=steps)


def _statistic(x: np.ndarray, kept: np.ndarray, ridge: float, *, deleted: bool) -> np.ndarray:
    """Per datapoint, the median over its tokens of d²/W under μ, Σ fitted on the tokens of
    the ``kept`` datapoints; with ``deleted``, a kept datapoint is measured under the fit
    without it.

    Leaving it out matters when the fit has few tokens per feature (m = 1, a handful of
    hospitals): a fit that saw a datapoint finds it close, so without it the datapoints
    outside the fit would look far only for being outside. The deleted fit costs no refit:
    with n kept tokens of scatter S about μ, dropping a datapoint's K tokens (rows U = X − μ,
    mean b) leaves ``S' = S − UᵀU − K²/(n − K) · (b − μ)(b − μ)ᵀ`` about the new mean
    ``μ' = μ − K/(n − K) · (b − μ)``, a rank-(K + 1) downdate that the Woodbury identity
    turns into a (K + 1) × (K + 1) solve. The ridge r = λ·tr(S)/(nW) is that of the whole fit.
    """
    m, k, w = x.shape
    n = len(kept) * k
    tokens = x[kept].reshape(-1, w)
    mean = tokens.mean(axis=0)
    centred = tokens - mean
    scatter = centred.T @ centred
    scale = np.trace(scatter) / (n * w)
    # Identical tokens have no scatter at all: any distance from them is then judged in their units.
    ridge_term = ridge * (scale if scale > 0 else 1.0)
    rest = n - k  # tokens in a deleted fit (every datapoint has K)
    # Outside the fit Σ = S/n + r·I; a deleted fit's Σ' = (S' + r(n − K)·I)/(n − K). With L the
    # Cholesky factor of S + r·c·I, ‖L⁻¹v‖² = vᵀ(S + r·c·I)⁻¹v.
    d2 = np.empty((m, k))
    inside = np.zeros(m, dtype=bool)
    inside[kept] = True
    deleted = deleted and k >= DELETED_SHARE * n
    groups = ((np.flatnonzero(~inside), n), (np.flatnonzero(inside), rest)) if deleted else ((np.arange(m), n),)
    for rows, count in groups:
        whiten = np.linalg.inv(np.linalg.cholesky(scatter + ridge_term * count * np.eye(w))).T
        step = max(1, _CHUNK_TOKENS // k)
        for lo in range(0, len(rows), step):
            chunk = rows[lo : lo + step]
            e = ((x[chunk].reshape(-1, w) - mean) @ whiten).reshape(len(chunk), k, w)  # whitened X − μ
            d2[chunk] = np.einsum("ckw,ckw->ck", e, e) * n if count == n else _deleted(e, n=n, k=k)
    return np.asarray(np.median(d2 / w, axis=1))


def _deleted(e: np.ndarray, *, n: int, k: int) -> np.ndarray:
    """d² of each kept datapoint's tokens under the fit without it (``e``: c × K × W, its
    whitened rows X − μ; see :func:`_statistic`)."""
    rest = n - k
    b = e.mean(axis=1, keepdims=True)  # whitened b − μ
    y = e + k / rest * b  # whitened X − μ'
    v = np.concatenate([e, k / np.sqrt(rest) * b], axis=1)  # the downdate's rows: c × (K + 1) × W
    vt = v.transpose(0, 2, 1)
    gram = np.eye(k + 1) - v @ vt  # I − V P⁻¹ Vᵀ, positive definite since S' + r(n − K)·I is
    cross = y @ vt  # Y P⁻¹ Vᵀ: c × K × (K + 1)
    correction = np.einsum("cij,cij->ci", cross, np.linalg.solve(gram, cross.transpose(0, 2, 1)).transpose(0, 2, 1))
    return np.asarray((np.einsum("ckw,ckw->ck", y, y) + correction) * rest)


def _outlyingness(statistic: np.ndarray) -> np.ndarray:
    median = float(np.median(statistic))
    return statistic / median if median > 0 else np.where(statistic > 0, np.inf, 1.0)
