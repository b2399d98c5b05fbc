"""The evaluate stage: the new global model on the held-out test split, as the robustness
literature reports it.

Every round records accuracy and loss, macro precision, recall and F1 and macro AUROC
(:func:`bflray.evaluation.classification_metrics`; multi-label tasks score each label).
When ``attack.kind`` has a targeted attack, the round records its success rate ``attack_success_rate``
whatever η is, so a clean run gives the baseline to compare with
(:func:`bflray.evaluation.targeted_success`, single-label or multi-label).

The last round also scores the global model on every hospital's validation split (a backend
call, so on the shards) and records the mean and the worst decile of those accuracies
(``accuracy_hospital_mean``, ``accuracy_worst_decile``): the spread a fair model keeps small.
"""

from __future__ import annotations

import numpy as np

from bflray.attacks import apply_trigger, targeted_attacks
from bflray.evaluation import backdoor_rows, classification_metrics, targeted_success, worst_decile
from bflray.models.outputs import label_tensor, mean_loss
from bflray.models.stacked import predict_logits
from bflray.protocol.state import HeldOutSet, RoundState, RunContext

class EvaluateStage:
    name = "evaluate"

    def __call__(self, state: RoundState, ctx: RunContext) -> None:
        test = ctx.test_set
        logits = predict_logits(ctx.model, state.global_params, test.features)
        labels = np.asarray(test.labels)
        multi = labels.ndim == 2
        state.record.update(
            loss=mean_loss(logits, label_tensor(labels)), **classification_metrics(logits.numpy(), labels, multi_label=multi)
        )
        asr = attack_success(ctx, state.global_params, logits.numpy())
        if asr is not None:
            state.record["attack_success_rate"] = asr
        spread = {"accuracy_hospital_mean": float("nan"), "accuracy_worst_decile": float("nan")}  # one schema per run
        if state.round == ctx.config.experiment.rounds:
            parts = ctx.backend.call("evaluate_global", state.global_params)
            per_hospital = np.concatenate([p["accuracy"] for p in parts])
            finite = per_hospital[np.isfinite(per_hospital)]
            if len(finite):
                spread = {"accuracy_hospital_mean": float(finite.mean()), "accuracy_worst_decile": worst_decile(finite)}
        state.record.update(spread)


def attack_success(ctx: RunContext, params: np.ndarray, logits: np.ndarray) -> float | None:
    """The targeted attack's success rate on the test split (``logits``: the global model's on it),
    or ``None`` when ``attack.kind`` has none."""
    cfg = ctx.config.attack
    names = targeted_attacks(ctx.config)
    if not names:
        return None
    test: HeldOutSet = ctx.test_set
    labels = np.asarray(test.labels)
    kind = names[0]
    triggered = None
    if kind == "backdoor":
        stamped = apply_trigger(test.features[backdoor_rows(labels, cfg.target_class)], test.image_shape,
                                size=cfg.trigger_size, value=cfg.trigger_value)
        triggered = predict_logits(ctx.model, params, stamped).numpy()
    return targeted_success(kind, logits, labels, target=cfg.target_class, source=cfg.source_class, triggered_logits=triggered)


__all__ = ["EvaluateStage", "attack_success"]
