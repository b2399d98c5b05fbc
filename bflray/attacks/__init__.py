"""Byzantine behaviour of malicious hospitals: who is malicious, and what they do.

Every attack is registered by name (:mod:`bflray.attacks.registry`) with its category (data,
model, participation, chain, por) and the site where the pipeline applies it; ``attack.kind``
names one, or several joined by ``+``. Data attacks share :class:`DataAttack`'s call shape,
model attacks :class:`~bflray.attacks.base.ModelAttack`'s; the rest are behaviours the stages
carry out by name. A share η of the hospitals (``attack.malicious_fraction``) is malicious,
drawn once from the seed (:func:`malicious_mask`).
"""

from collections.abc import Callable

import numpy as np

from bflray.attacks import (  # noqa: F401  (imported to register their attacks)
    colluding_validators,
    dishonest_voting,
    forged_outputs,
    inflated_samples,
    lazy,
    ood_kappa,
    sybil,
)
from bflray.attacks.alie import alie
from bflray.attacks.backdoor import apply_trigger, backdoor
from bflray.attacks.base import ModelAttack
from bflray.attacks.free_riding import free_riding
from bflray.attacks.gaussian_noise import gaussian_noise
from bflray.attacks.ipm import ipm
from bflray.attacks.label_flip import label_flip, targeted_label_flip
from bflray.attacks.min_max import min_max, min_sum
from bflray.attacks.model_replacement import model_replacement
from bflray.attacks.registry import (
    AttackError,
    AttackInfo,
    DataAttack,
    attack_info,
    attack_names,
    declare_attack,
    parse_kind,
    register_attack,
)
from bflray.attacks.scaling import scaling
from bflray.attacks.selection import TARGETED, active_attacks, malicious_mask, run_malicious_mask, targeted_attacks
from bflray.attacks.sign_flip import sign_flip

#: The registered attacks that replace a hospital's update (site ``update``), by name.
MODEL_ATTACKS: dict[str, Callable[..., np.ndarray]] = {
    name: info.function for name in attack_names() if (info := attack_info(name)).site == "update" and info.function
}

__all__ = [
    "MODEL_ATTACKS", "TARGETED", "AttackError", "AttackInfo", "DataAttack", "ModelAttack", "active_attacks", "alie", "apply_trigger", "attack_info",
    "attack_names", "backdoor", "declare_attack", "free_riding", "gaussian_noise", "ipm", "label_flip",
    "malicious_mask", "min_max", "min_sum", "model_replacement", "parse_kind", "register_attack",
    "run_malicious_mask", "scaling", "sign_flip", "targeted_attacks", "targeted_label_flip",
]
