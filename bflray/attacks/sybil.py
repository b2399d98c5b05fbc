"""Sybil identities, a participation attack (Fung, Yoon, Beschastnikh, 2020, "The Limitations of
Federated Learning in Sybil Settings"): one attacker registers the malicious hospitals as its
own identities. Its one real update (the lowest malicious id's of the round, after any data or
model attack) is sent by every identity, so one poisoned dataset or crafted update counts as
many times as it has identities."""

from __future__ import annotations

import numpy as np

from bflray.attacks.registry import declare_attack

declare_attack("sybil", category="participation", summary="every malicious identity sends one attacker's update")


def sybil_copies(params: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``params`` with the rows ``rows`` (the round's malicious ones, ascending) all set to the first of them."""
    out = np.array(params, copy=True)
    if len(rows):
        out[rows] = params[rows[0]]
    return out
