"""Byzantine behaviour of malicious hospitals: who is malicious, and what they send.

Model attacks, one module each, share the call shape of :class:`bflray.attacks.base.ModelAttack`
and are found by name in :data:`MODEL_ATTACKS` (``attack.kind``).
"""

from collections.abc import Callable

import numpy as np

from bflray.attacks.alie import alie
from bflray.attacks.base import ModelAttack
from bflray.attacks.free_riding import free_riding
from bflray.attacks.gaussian_noise import gaussian_noise
from bflray.attacks.ipm import ipm
from bflray.attacks.min_max import min_max, min_sum
from bflray.attacks.scaling import scaling
from bflray.attacks.selection import malicious_mask
from bflray.attacks.sign_flip import sign_flip

#: ``attack.kind`` → the attack.
MODEL_ATTACKS: dict[str, Callable[..., np.ndarray]] = {
    "random": gaussian_noise,
    "sign_flip": sign_flip,
    "scaling": scaling,
    "alie": alie,
    "ipm": ipm,
    "min_max": min_max,
    "min_sum": min_sum,
    "free_riding": free_riding,
}

__all__ = [
    "MODEL_ATTACKS", "ModelAttack", "alie", "free_riding", "gaussian_noise", "ipm", "malicious_mask", "min_max",
    "min_sum", "scaling", "sign_flip",
]
