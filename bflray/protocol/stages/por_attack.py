"""The attack stage of the Proof of Reasoning pipeline: malicious hospitals (a share
``attack.malicious_fraction`` of the federation, chosen by the seed) shape what goes into
their EDI transactions (PoR paper, Sec. III-C) before the ``edi`` stage builds them.

Runs right after training, so validation (eq. 1) and ranking (eq. 2) see what a malicious
hospital would really publish. In order, for the malicious hospitals of the round:

1. an ``update`` attack of ``attack.kind`` replaces their trained classifier, then ``sybil``
   gives every malicious identity the first one's classifier
   (:func:`~bflray.protocol.stages.attack.poison_params`). Only the head's learnable
   parameters are poisoned; its BatchNorm running statistics stay as trained, since a
   flipped or scaled running variance turns negative and makes the classifier's outputs
   NaN, which validation refuses as malformed: a rational attacker keeps its transaction
   valid. The attacker is consistent: it publishes the outputs ŷ its poisoned classifier
   computes on its κ, so eq. (1) holds and only the ranking can catch it;
2. ``ood_kappa``: its κ becomes out-of-domain junk, with ŷ and labels from its own
   classifier (:mod:`bflray.attacks.ood_kappa`): valid, aimed at the ranking;
3. ``forged_outputs``: its ŷ claims a perfect classifier (:mod:`bflray.attacks.forged_outputs`),
   which eq. (1) rejects;
4. ``inflated_samples``: it claims ``attack.sample_inflation`` × its sample count. PoR weights
   by rank, not by claims (Sec. I), so the claim is recorded in ``hospitals.parquet`` and
   nothing weighs it: this stage leaves the round's weights alone.

Data attacks (label flips, backdoors) and lazy training act earlier, in the hospitals'
blocks, before their data is encoded. Marks every reporting hospital's ``malicious``
column of ``hospitals.parquet``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from bflray.attacks import active_attacks
from bflray.attacks.forged_outputs import forge_outputs
from bflray.attacks.inflated_samples import inflate_counts
from bflray.attacks.ood_kappa import Predict, ood_rng, ood_tuples
from bflray.attacks.sybil import sybil_copies
from bflray.config import Config
from bflray.models.outputs import probabilities
from bflray.models.por_stacked import PoRHeadStacked
from bflray.protocol.stages.attack import mark_malicious, poison_params
from bflray.protocol.stages.por import por_head
from bflray.protocol.state import RoundState, RunContext

__all__ = ["PoRAttackStage", "head_predict", "poison_head"]


def poison_head(
    params: np.ndarray, base: np.ndarray, bad: np.ndarray, hospital_ids: np.ndarray, *, num_params: int,
    config: Config, round_: int,
) -> np.ndarray:
    """The round's PoR head states as the malicious rows ``bad`` send them: the ``update``
    attack on the first ``num_params`` entries (the learnable parameters; the BatchNorm
    running statistics after them stay as trained), then Sybil copies of whole states.
    Returns a new float32 array."""
    out = np.array(params, dtype=np.float32)
    base = np.asarray(base, dtype=np.float32)
    if not 0 < num_params <= out.shape[1] or base.shape != out.shape[1:]:
        raise ValueError(
            f"round {round_}: head states of {out.shape[1]} entries, {num_params} learnable, with a global "
            f"state of shape {base.shape}"
        )
    out[:, :num_params] = poison_params(
        out[:, :num_params], base[:num_params], bad, hospital_ids, config=config, round_=round_
    )
    if "sybil" in active_attacks(config):
        out = sybil_copies(out, np.flatnonzero(bad))
    return out


def head_predict(head: PoRHeadStacked, *, multi_label: bool = False) -> Predict:
    """Each state's outputs (softmax, or per-label sigmoids for a multi-label task) on its own
    κ (``n × m × K × W``), as a hospital computes its ŷ and validation recomputes it (eval mode)."""

    def predict(states: np.ndarray, kappa: np.ndarray) -> np.ndarray:
        weights = torch.from_numpy(np.array(states, dtype=np.float32))  # copies: torch wants writable arrays
        inputs = torch.from_numpy(np.array(kappa, dtype=np.float32))
        with torch.no_grad():
            logits = head.logits(weights, inputs)
            return probabilities(logits, multi_label=multi_label).numpy().astype(np.float32)

    return predict


class PoRAttackStage:
    """What the round's malicious PoR hospitals publish (see the module docstring)."""

    name = "attack"

    def __call__(self, state: RoundState, ctx: RunContext) -> None:
        updates = state.require_updates()
        config = ctx.config
        bad = mark_malicious(state, config)
        if not bad.any():
            return
        head = por_head(ctx)
        names = active_attacks(config)
        rows = np.flatnonzero(bad)
        params = poison_head(
            updates.params, state.global_params, bad, updates.hospital_ids, num_params=head.num_params,
            config=config, round_=state.round,
        )
        extras = {name: np.array(values, copy=True) for name, values in updates.extras.items()}
        kappa, outputs, labels = extras["kappa"], extras["outputs"], extras["labels"]
        multi_label = labels.ndim == 3  # n × m × C targets
        predict = head_predict(head, multi_label=multi_label)
        if "ood_kappa" in names:
            rngs = [ood_rng(seed=config.experiment.seed, round_=state.round, hospital=int(updates.hospital_ids[i]))
                    for i in rows]
            kappa[rows], outputs[rows], labels[rows] = ood_tuples(
                params[rows], kappa[rows], predict=predict, rngs=rngs, multi_label=multi_label
            )
        elif not np.array_equal(params[rows], updates.params[rows]):
            outputs[rows] = predict(params[rows], kappa[rows])  # consistent: ŷ of the classifier it publishes
        if "forged_outputs" in names:
            outputs[rows] = forge_outputs(labels[rows], num_classes=head.spec.num_outputs, multi_label=multi_label)
        counts = updates.num_samples
        if "inflated_samples" in names:
            counts = inflate_counts(counts, bad, config.attack.sample_inflation)
            state.hospital_columns["num_samples"] = counts
        state.updates = replace(updates, params=params, num_samples=counts, extras=extras)
