"""Dishonest voting, a chain attack (FLock paper, Sec. V): a malicious voter of the stake-based
vote accepts the aggregate when an honest voter would reject it (a poisoned one) and rejects
it when an honest voter would accept it (a clean one). Its stake is slashed whenever it ends
on the losing side, so honest majorities drive dishonest voters out of the federation."""

from __future__ import annotations

import numpy as np

from bflray.attacks.registry import declare_attack

declare_attack("dishonest_voting", category="chain", summary="malicious voters vote against the honest verdict")


def cast_votes(honest_verdicts: np.ndarray, malicious: np.ndarray) -> np.ndarray:
    """The votes cast: each voter's honest verdict, inverted for the malicious ones."""
    votes: np.ndarray = np.asarray(honest_verdicts, dtype=bool) != np.asarray(malicious, dtype=bool)
    return votes
