"""PoR scoring and ranking (PoR paper, eq. 2): every validated classifier is scored on the
pooled encoded datapoints of the round's validated transactions and ranked by the policy.

Exact scoring evaluates all N classifiers on all M datapoints: one batched evaluation,
O(N·M). The committee mode scores each classifier on its own sample of s datapoints (drawn
for the round from ``(seed, round, FEDERATION, COMMITTEE)``), O(N·s); with s ≥ M it is the
exact ranking. A committee is a uniform sample, or a stratified one (proportional allocation,
every datapoint equally likely to be drawn) over :func:`committee_strata`: the datapoint's
label and its region of κ-space. Stratifying keeps the committee sum an unbiased estimate of
the exact one and removes the part of its variance that comes from how many datapoints of
each class and region a committee happened to draw: on the ``por_scale`` workload the same
Kendall τ to the exact ranking (0.9) took about half as many datapoints as uniform committees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from bflray.models.outputs import probabilities as to_probabilities
from bflray.por.policies import Reduction, Score
from bflray.por.validation import Logits
from bflray.seeding import FEDERATION, Purpose, derive_rng


@dataclass(frozen=True)
class Ranking:
    """Reduced scores and ranks (1 = best; ties broken by position, i.e. hospital id)."""

    scores: np.ndarray
    ranks: np.ndarray


def sample_committees(
    *, seed: int, round_: int, classifiers: int, datapoints: int, size: int, strata: np.ndarray | None = None
) -> np.ndarray:
    """``classifiers × size`` datapoint indices, each row a random subset (no repeats within a
    row, sorted). ``size ≥ datapoints`` gives every row all datapoints.

    Without ``strata`` every row is a uniformly random subset. With ``strata`` (one key per
    datapoint: its class label, its row of multi-label targets, or :func:`committee_strata`'s
    label and κ region) every row is a stratified
    sample with proportional allocation: stratum h, holding M_h of the M datapoints, gets
    ``⌊s·M_h/M⌋`` places or one more, the extra places going by systematic sampling with the
    row's own random start so that the expected count is exactly ``s·M_h/M``; the places are
    filled uniformly within the stratum. The plain sum over a row is then still an unbiased
    estimate of ``s/M`` times the exact sum, but no longer varies with how many datapoints of
    each class the row happened to draw: the rank-points score varies much more between
    classes than within one, for a classifier that confuses some classes.
    """
    if size >= datapoints:
        return np.broadcast_to(np.arange(datapoints), (classifiers, datapoints))
    rng = derive_rng(seed, round_, FEDERATION, Purpose.COMMITTEE)
    if strata is None:
        return _uniform_subsets(rng, rows=classifiers, population=datapoints, size=size)
    if len(strata) != datapoints:
        raise ValueError(f"strata must give one key per datapoint: got {len(strata)} keys for {datapoints} datapoints")
    stratum = _groups(np.asarray(strata))
    counts = np.bincount(stratum)
    members = np.argsort(stratum, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    # Integer arithmetic so that every row gets exactly ``size`` places: stratum h gets
    # base_h = ⌊s·M_h/M⌋ and one more when a point U + kM (U uniform in 1..M, one per row)
    # falls in (R_{h-1}, R_h], R the running sum of the remainders s·M_h mod M.
    base, remainder = np.divmod(size * counts, datapoints)
    upper = np.cumsum(remainder)
    start = rng.integers(1, datapoints + 1, size=classifiers)
    lower = upper - remainder
    extra = (upper[:, None] - start) // datapoints - (lower[:, None] - start) // datapoints  # strata × classifiers
    places = base + (remainder > 0)
    columns = np.concatenate([[0], np.cumsum(places)])
    # Places × classifiers, so that each stratum fills contiguous rows; transposed at the end.
    drawn = np.empty((int(columns[-1]), classifiers), dtype=np.int64)
    keep = np.ones(drawn.shape, dtype=bool)
    for h in np.flatnonzero(places):
        lo, hi = int(columns[h]), int(columns[h + 1])
        local = _uniform_subsets(rng, rows=classifiers, population=int(counts[h]), size=hi - lo)
        drawn[lo:hi] = members[starts[h] + local.T]
        if remainder[h]:  # rows without the extra place drop one of theirs, chosen uniformly
            short = np.flatnonzero(extra[h] == 0)
            keep[lo + rng.integers(0, hi - lo, size=len(short)), short] = False
    return np.sort(drawn.T[keep.T].reshape(classifiers, size), axis=1)


def committee_strata(labels: np.ndarray, kappa: np.ndarray, *, regions: int = 16) -> np.ndarray:
    """One stratum id per datapoint for :func:`sample_committees`: its label (class id, or its
    row of multi-label targets) and, within each label, which of up to ``regions`` k-means
    regions of κ-space its mean token encoding falls in.

    Classifiers that differ in quality differ in *where* they err (the classes they confuse,
    the styles of input they get wrong), so a committee that holds every class and every region
    in proportion ranks them with less noise than one that does not. On the ``por_scale``
    workload (digits, 2,000 and 10,000 heads) the rank-points variance within a class was 63 %
    of the total, within a class and one of 16 regions 37-40 %. A label group gets
    ``min(regions, size // 8)`` regions (at least 1); the regions come from Lloyd's k-means
    (10 iterations) started from points spread along the group's first principal axis, so they
    depend on the data alone, not on a random draw. They are float computations: whoever
    re-draws a round's committees gets the same ones with the same numpy and BLAS, but another
    BLAS may move a datapoint that lies on a region boundary; labels alone (``regions = 1``)
    are exact everywhere.
    """
    kappa = np.asarray(kappa)
    features = kappa.reshape(len(kappa), -1, kappa.shape[-1]).mean(axis=1).astype(np.float64)  # mean token, M × W
    if len(features) != len(labels):
        raise ValueError(f"labels and kappa must hold the same datapoints: got {len(labels)} and {len(features)}")
    if regions < 1:
        raise ValueError(f"regions must be at least 1, got {regions}")
    group = _groups(np.asarray(labels))
    strata = group * regions
    for g in range(int(group.max()) + 1 if len(group) else 0):
        members = np.flatnonzero(group == g)
        k = min(regions, len(members) // 8)
        if k > 1:
            strata[members] += _kmeans(features[members], k)
    return strata


def _groups(keys: np.ndarray) -> np.ndarray:
    """Group id (0, 1, ... in sorted key order) of every row of ``keys``: one key per datapoint,
    a scalar or a row (multi-label targets)."""
    if keys.ndim == 1:
        inverse: np.ndarray = np.unique(keys, return_inverse=True)[1]
    else:
        inverse = np.unique(keys.reshape(len(keys), -1), axis=0, return_inverse=True)[1]
    flat: np.ndarray = inverse.reshape(-1)
    return flat


def _kmeans(points: np.ndarray, k: int, *, iterations: int = 10) -> np.ndarray:
    """Region of every point under Lloyd's k-means, started from the points at the quantiles
    (i + ½)/k of the projection on the first principal axis."""
    centred = points - points.mean(axis=0)
    axis = np.linalg.svd(centred, full_matrices=False)[2][0]
    order = np.argsort(centred @ axis, kind="stable")
    centres = points[order[((np.arange(k) + 0.5) * len(points) / k).astype(np.int64)]]
    squared = (points * points).sum(axis=1, keepdims=True)
    region: np.ndarray
    for _ in range(iterations):
        region = np.argmin(squared - 2 * points @ centres.T + (centres * centres).sum(axis=1), axis=1)
        sizes = np.bincount(region, minlength=k)
        sums = np.zeros_like(centres)
        np.add.at(sums, region, points)
        centres = np.where(sizes[:, None] > 0, sums / np.maximum(sizes, 1)[:, None], centres)
    region = np.argmin(squared - 2 * points @ centres.T + (centres * centres).sum(axis=1), axis=1)
    return region


def _uniform_subsets(rng: np.random.Generator, *, rows: int, population: int, size: int) -> np.ndarray:
    """``rows × size`` indices into ``range(population)``, each row a uniformly random subset
    (sorted; ``size ≤ population``)."""
    if size >= population:
        return np.broadcast_to(np.arange(population), (rows, population)).copy()
    if 2 * size > population:  # dense: rank random keys, row by row in chunks
        parts = [np.argpartition(rng.random((min(1024, rows - lo), population)), size, axis=1)[:, :size]
                 for lo in range(0, rows, 1024)]
        return np.sort(np.concatenate(parts), axis=1) if parts else np.empty((0, size), dtype=np.int64)
    # Sparse: draw with replacement, redraw repeats; exchangeable, so every subset is equally likely.
    # Only rows that still hold a repeat are looked at again (same draws, in the same order).
    index = rng.integers(0, population, size=(rows, size))
    index.sort(axis=1)
    active = np.arange(rows)
    block = index
    while True:
        repeat = np.zeros(block.shape, dtype=bool)
        repeat[:, 1:] = block[:, 1:] == block[:, :-1]
        rows_with = repeat.any(axis=1)
        if not rows_with.any():
            return index
        active, block, repeat = active[rows_with], block[rows_with], repeat[rows_with]
        block[repeat] = rng.integers(0, population, size=int(repeat.sum()))
        block.sort(axis=1)
        index[active] = block


def score_classifiers(
    states: torch.Tensor,
    kappa: torch.Tensor,
    labels: torch.Tensor,
    logits: Logits,
    score: Score,
    *,
    committees: np.ndarray | None = None,
    chunk: int = 6,
    datapoint_chunk: int = 256,
) -> torch.Tensor:
    """S^π of every classifier on its datapoints: ``N × M`` (exact) or ``N × s`` (committees).

    ``logits`` is given each classifier's own batch (``N × s × K × W``) in committee mode, and
    the pooled datapoints, shared by all (``m × K × W``), in the exact mode. The work goes in
    blocks of about ``chunk × datapoint_chunk`` (classifier, datapoint) pairs: ``chunk``
    classifiers on ``datapoint_chunk`` datapoints in the exact mode, ``chunk ×
    datapoint_chunk / s`` classifiers on their whole committees in committee mode. Small blocks
    keep the ``block × K × W`` intermediates near the CPU's cache: on the PoR head at W = 64,
    K = 25 (2 vCPUs), blocks of about 1,500 pairs scored the exact mode 2.1× faster than the
    earlier 16,384, and committees 1.3× faster than the earlier 4,096; from about 2,300 pairs
    the speed fell by a third or more, and below about 800 the per-call overhead (folding the
    heads' weights) takes over. Blocking does not change results.
    """
    n = states.shape[0]
    multi_label = labels.dim() > 1  # N × C 0/1 targets: one sigmoid per label
    width = kappa.shape[0] if committees is None else committees.shape[1]
    if committees is not None:
        chunk = max(1, chunk * datapoint_chunk // max(1, width))
    out: torch.Tensor | None = None
    # Each block's committee datapoints are gathered into one buffer, reused from block to block.
    rows = min(chunk, n) * width if committees is not None else 0
    gathered = torch.empty((rows, *kappa.shape[1:]), dtype=kappa.dtype)
    with torch.no_grad():
        for lo in range(0, n, chunk):
            hi = min(lo + chunk, n)
            if committees is None:
                for j in range(0, width, datapoint_chunk):
                    k = min(j + datapoint_chunk, width)
                    probabilities = to_probabilities(logits(states[lo:hi], kappa[j:k]), multi_label=multi_label)
                    block = score(probabilities, labels[j:k].unsqueeze(0).expand(hi - lo, *labels[j:k].shape))
                    out = _into(out, block, (n, width))
                    out[lo:hi, j:k] = block
            else:
                index = torch.from_numpy(np.require(committees[lo:hi], dtype=np.int64, requirements=["C", "W"]))
                batch = torch.index_select(kappa, 0, index.reshape(-1), out=gathered[: (hi - lo) * width])
                batch = batch.view(hi - lo, width, *kappa.shape[1:])
                probabilities = to_probabilities(logits(states[lo:hi], batch), multi_label=multi_label)
                block = score(probabilities, labels[index])
                out = _into(out, block, (n, width))
                out[lo:hi] = block
    return out if out is not None else torch.empty(n, width)


def _into(out: torch.Tensor | None, block: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """The result matrix, allocated once with the first block's dtype."""
    return torch.empty(shape, dtype=block.dtype) if out is None else out


def rank_scores(scores: torch.Tensor, reduction: Reduction) -> Ranking:
    """Reduce each classifier's scores (R^π) and rank: 1 for the highest."""
    reduced = reduction(scores).double().numpy() if scores.numel() else np.zeros(scores.shape[0])
    order = np.argsort(-reduced, kind="stable")
    ranks = np.empty(len(reduced), dtype=np.int64)
    ranks[order] = np.arange(1, len(reduced) + 1)
    return Ranking(scores=reduced, ranks=ranks)
