"""Aggregation policies π = (S, R) of Proof of Reasoning (PoR paper, eq. 2).

A scoring function S rates one classifier's output on one encoded datapoint against its
ground truth; a reduction R turns a classifier's scores over all datapoints into one number.
Higher is better for every score. Registered by name; add your own with
:func:`register_score` / :func:`register_reduction`.

Scores (``probabilities``: ``… × C``, ``labels``: ``…`` ints):

- ``rank_points`` (the paper's example): a classifier whose probability for the correct
  class is its r-th highest gets ``C − r + 1`` points (``C`` for a correct top-1 guess); classes
  level with the correct one share their ranks (mid-rank), so a tie is never a win;
- ``accuracy``: 1 if the most probable class is correct, else 0;
- ``log_likelihood``: ``log p(correct class)`` (clipped at 1e-12);
- ``brier``: ``−Σ_c (p_c − 1[c = y])²``, the negated Brier score.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from bflray.errors import ConfigError

Score = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Reduction = Callable[[torch.Tensor], torch.Tensor]


def rank_points(probabilities: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    c = probabilities.shape[-1]
    correct = probabilities.gather(-1, labels.unsqueeze(-1))
    above = (probabilities > correct).sum(dim=-1)
    tied = (probabilities == correct).sum(dim=-1) - 1  # other classes level with the true one
    # Ties take the mid-rank: a saturated classifier whose wrong answers leave every other class
    # at exactly 0 (underflow) must not score as if it had put the true class second.
    rank = above.to(probabilities.dtype) + 1 + 0.5 * tied.to(probabilities.dtype)
    return (c - rank + 1).to(probabilities.dtype)


def accuracy(probabilities: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return (probabilities.argmax(dim=-1) == labels).to(probabilities.dtype)


def log_likelihood(probabilities: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return probabilities.gather(-1, labels.unsqueeze(-1)).squeeze(-1).clamp(min=1e-12).log()


def brier(probabilities: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    onehot = torch.nn.functional.one_hot(labels, probabilities.shape[-1]).to(probabilities.dtype)
    return -(probabilities - onehot).square().sum(dim=-1)


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
