"""Aggregation policies π = (S, R) of Proof of Reasoning (PoR paper, eq. 2).

A scoring function S rates one classifier's output on one encoded datapoint against its
ground truth; a reduction R turns a classifier's scores over all datapoints into one number.
Higher is better for every score. Registered by name; add your own with
:func:`register_score` / :func:`register_reduction`.

Scores (``probabilities``: ``… × C``, ``labels``: ``…`` ints; for a multi-label task labels are
``… × C`` 0/1 targets and the probabilities per-label sigmoids, and each score treats the C labels
as C binary questions, as noted):

- ``rank_points`` (the paper's example): a classifier whose probability for the correct
  class is its r-th highest gets ``C − r + 1`` points (``C`` for a correct top-1 guess); classes
  level with the correct one share their ranks (mid-rank), so a tie is never a win;
  multi-label: the sum over the labels of a binary question's points, 2 when the true answer
  is the more probable one, 1 when it is the less probable, 1.5 at p = 0.5;
- ``accuracy``: 1 if the most probable class is correct, else 0; multi-label: the share of
  labels whose more probable answer (p > 0.5 for "present") is the true one;
- ``log_likelihood``: ``log p(correct class)`` (clipped at 1e-12); multi-label: the sum over
  labels of ``log p(true answer)``;
- ``brier``: ``−Σ_c (p_c − 1[c = y])²``, the negated Brier score (multi-label: ``−Σ_c (p_c − y_c)²``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from bflray.errors import ConfigError

Score = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Reduction = Callable[[torch.Tensor], torch.Tensor]


def _multi_label(probabilities: torch.Tensor, labels: torch.Tensor) -> bool:
    return labels.dim() == probabilities.dim()


def _true_answer(probabilities: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Multi-label: each label's probability of its true answer (p if present, 1 − p if not)."""
    return torch.where(labels.bool(), probabilities, 1 - probabilities)


def rank_points(probabilities: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    if _multi_label(probabilities, labels):
        return (1.5 + 0.5 * torch.sign(2 * _true_answer(probabilities, labels) - 1)).sum(dim=-1)
    c = probabilities.shape[-1]
    correct = probabilities.gather(-1, labels.unsqueeze(-1))
    above = (probabilities > correct).sum(dim=-1)
    tied = (probabilities == correct).sum(dim=-1) - 1  # other classes level with the true one
    # Ties take the mid-rank: a saturated classifier whose wrong answers leave every other class
    # at exactly 0 (underflow) must not score as if it had put the true class second.
    rank = above.to(probabilities.dtype) + 1 + 0.5 * tied.to(probabilities.dtype)
    return (c - rank + 1).to(probabilities.dtype)


def accuracy(probabilities: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    if _multi_label(probabilities, labels):
        return ((probabilities > 0.5) == labels.bool()).to(probabilities.dtype).mean(dim=-1)
    return (probabilities.argmax(dim=-1) == labels).to(probabilities.dtype)


def log_likelihood(probabilities: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    if _multi_label(probabilities, labels):
        return _true_answer(probabilities, labels).clamp(min=1e-12).log().sum(dim=-1)
    return probabilities.gather(-1, labels.unsqueeze(-1)).squeeze(-1).clamp(min=1e-12).log()


def brier(probabilities: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    if _multi_label(probabilities, labels):
        target = labels.to(probabilities.dtype)
    else:
        target = torch.nn.functional.one_hot(labels, probabilities.shape[-1]).to(probabilities.dtype)
    return -(probabilities - target).square().sum(dim=-1)


def _median(scores: torch.Tensor) -> torch.Tensor:
    return scores.median(dim=-1).values


_SCORES: dict[str, Score] = {
    "rank_points": rank_points,
    "accuracy": accuracy,
    "log_likelihood": log_likelihood,
    "brier": brier,
}
_REDUCTIONS: dict[str, Reduction] = {
    "sum": lambda s: s.sum(dim=-1),
    "mean": lambda s: s.mean(dim=-1),
    "median": _median,
}


def register_score(name: str, score: Score) -> None:
    """Make ``por.score = name`` use ``score(probabilities, labels) -> scores``."""
    _SCORES[name] = score


def register_reduction(name: str, reduction: Reduction) -> None:
    """Make ``por.reduction = name`` use ``reduction(scores[..., M]) -> [...]``."""
    _REDUCTIONS[name] = reduction


def get_score(name: str) -> Score:
    try:
        return _SCORES[name]
    except KeyError:
        raise ConfigError(f"por.score = {name!r} is not registered; registered: {', '.join(sorted(_SCORES))}") from None


def get_reduction(name: str) -> Reduction:
    try:
        return _REDUCTIONS[name]
    except KeyError:
        raise ConfigError(
            f"por.reduction = {name!r} is not registered; registered: {', '.join(sorted(_REDUCTIONS))}"
        ) from None
