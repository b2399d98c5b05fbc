"""Byzantine behaviour of malicious hospitals: who is malicious, and what they send.

Model attacks share one call shape, ``attack(deltas, *, rng_for, scale, reference_std) ->
deltas``, over the malicious hospitals' update deltas (rows) from the global model.
"""

from bflray.attacks.model import MODEL_ATTACKS, gaussian_noise, sign_flip
from bflray.attacks.selection import malicious_mask

__all__ = ["MODEL_ATTACKS", "gaussian_noise", "malicious_mask", "sign_flip"]
