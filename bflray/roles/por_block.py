"""A block of PoR hospitals: MAE encoders, cached masked features κ, and EDI tuples.

On top of :class:`~bflray.roles.hospital_block.HospitalBlock` (data, vectorised training of
the heads), a PoR block

1. pre-trains its hospitals' encoders on their own images (``pretrain_encoders``) when the
   encoders are per hospital;
2. encodes every sample once, keeping the masking (``set_encoders``): the block's features
   become κ, flattened, and the pixels are dropped; the test split is encoded by every
   distinct encoder the block holds, for evaluation;
3. after local training adds each hospital's EDI tuples to its result: m datapoints drawn
   from its validation split (its training split when it has none) with their κ, the
   trained head's outputs ŷ and the labels y.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from bflray.attacks import apply_trigger, targeted_attacks
from bflray.config import Config
from bflray.errors import ConfigError
from bflray.evaluation import backdoor_rows, classification_metrics, targeted_success
from bflray.models.batch_norm import reestimate_batch_norm
from bflray.models.factory import mae_spec
from bflray.models.outputs import label_tensor, mean_loss, probabilities
from bflray.models.por_stacked import PoRHeadStacked
from bflray.por.encoders import SHARED, encode, pretrain_encoder, state_from_bytes, state_to_bytes
from bflray.roles.hospital_block import HospitalBlock
from bflray.roles.messages import RoundPlan, TrainResult
from bflray.seeding import Purpose, derive_rng
from bflray.training.synthetic import SyntheticWorkload


#: Macro rates every encoder group reports next to accuracy and loss (:func:`bflray.evaluation.classification_metrics`).
_RATES = ("precision", "recall", "f1", "auroc")


class PoRHospitalBlock(HospitalBlock):
    """Hospitals ``first … stop-1`` of a PoR federation."""

    trains_on_device = False  # the MAE encoding, EDI sampling and PoR scoring here run on the CPU

    def __init__(self, config: Config, first: int, stop: int, workload: SyntheticWorkload | None = None) -> None:
        if workload is not None:
            raise ConfigError("experiment.pipeline = 'por' encodes real images; it takes no synthetic workload")
        super().__init__(config, first, stop)
        dataset = self.data.dataset
        self.mae = mae_spec(config, dataset)
        self._head()
        shape = (dataset.channels, dataset.image_size, dataset.image_size)
        self._pixels: torch.Tensor | None = self.features.float().reshape(-1, *shape)
        self._test_pixels = torch.from_numpy(dataset.features[self.data.test].astype(np.float32)).reshape(-1, *shape)
        self._test_labels = label_tensor(dataset.labels[self.data.test])
        self._test_kappa: list[torch.Tensor] = []
        self._triggered_kappa: list[torch.Tensor] = []  # the backdoor's triggered test images, per encoder
        attack = config.attack
        self._targeted = targeted_attacks(config)
        others = backdoor_rows(self._test_labels.numpy(), attack.target_class)
        self._triggered_pixels = torch.from_numpy(
            apply_trigger(dataset.features[self.data.test][others].astype(np.float32), dataset.image_shape,
                          size=attack.trigger_size, value=attack.trigger_value)
        ).reshape(-1, *shape) if "backdoor" in self._targeted else None
        self._encoder_group = np.zeros(len(self.hospital_ids), dtype=np.int64)

    # -- encoders -----------------------------------------------------------------------

    def _own_images(self, i: int) -> torch.Tensor:
        if self._pixels is None:
            raise RuntimeError("the block's images were dropped once encoded")
        rows = np.r_[self.starts[i] : self.starts[i] + self.num_samples[i],
                     self.validation_starts[i] : self.validation_starts[i] + self.validation_sizes[i]]
        return self._pixels[torch.from_numpy(rows)]

    def pretrain_encoders(self, hospitals: np.ndarray) -> dict[int, tuple[bytes, list[float]]]:
        """Pre-train the encoders of those ``hospitals`` this block hosts, each on its own
        training and validation images; returns ``{hospital: (state bytes, epoch losses)}``."""
        m = self.config.mae
        out: dict[int, tuple[bytes, list[float]]] = {}
        for h in hospitals[(hospitals >= self.first) & (hospitals < self.first + len(self.hospital_ids))]:
            state, losses = pretrain_encoder(
                self._own_images(int(h) - self.first), self.mae, epochs=m.epochs, batch_size=m.batch_size,
                learning_rate=m.learning_rate, seed=self.config.experiment.seed, hospital=int(h),
            )
            out[int(h)] = (state_to_bytes(state), losses)
        return out

    def set_encoders(self, encoders: dict[int, bytes]) -> dict[str, int]:
        """Encode every sample with its hospital's encoder (``encoders[h]``, else
        ``encoders[SHARED]``); the block's features become κ and its pixels are dropped."""
        views = self.config.mae.feature_views
        seed = self.config.experiment.seed
        groups: dict[bytes, int] = {}
        train_parts, val_parts = [], []
        for i, h in enumerate(self.hospital_ids.tolist()):
            blob = encoders.get(h, encoders.get(SHARED))
            if blob is None:
                raise ConfigError(f"no encoder for hospital {h} (mae.mode = {self.config.mae.mode!r})")
            state = state_from_bytes(blob)
            group = groups.setdefault(blob, len(groups))
            self._encoder_group[i] = group
            if group == len(self._test_kappa):
                # Test masks are the group's own, so every hospital of a shared encoder sees the same κ.
                key = SHARED if h not in encoders else h
                self._test_kappa.append(encode(self._test_pixels, state, self.mae, seed=seed, hospital=key)[0])
                if self._triggered_pixels is not None:
                    self._triggered_kappa.append(
                        encode(self._triggered_pixels, state, self.mae, seed=seed, hospital=key)[0]
                    )
            images = self._own_images(i)
            n = int(self.num_samples[i])
            kappa = encode(images, state, self.mae, seed=seed, hospital=h, views=views)
            train_parts.append(kappa[:, :n].reshape(-1, self.mae.visible_patches * self.mae.width))
            val_parts.append(kappa[0, n:].reshape(-1, self.mae.visible_patches * self.mae.width))
        labels = self.labels
        train_labels = [  # the views of a sample follow each other as its κ rows do
            labels[s : s + n].repeat(views, *([1] * (labels.dim() - 1))) for s, n in zip(self.starts, self.num_samples, strict=True)
        ]
        val_labels = [labels[s : s + n] for s, n in zip(self.validation_starts, self.validation_sizes, strict=True)]
        dtype = getattr(torch, self.config.runtime.feature_dtype)
        self.features = torch.cat(train_parts + val_parts).to(dtype).contiguous()
        self.labels = torch.cat(train_labels + val_labels).contiguous()
        self.num_samples = self.num_samples * views
        self.starts = np.concatenate([[0], np.cumsum(self.num_samples)[:-1]]).astype(np.int64)
        total = int(self.num_samples.sum())
        self.validation_starts = total + np.concatenate([[0], np.cumsum(self.validation_sizes)[:-1]]).astype(np.int64)
        self._pixels = None
        return {"encoders": len(groups), "rows": int(self.features.shape[0])}

    def _own_statistics_groups(self) -> dict[int, int]:
        """``{encoder group: block position}`` of the hospitals evaluated with their own
        BatchNorm statistics: every hospital with its own encoder and two training rows or more."""
        if self.config.mae.mode != "per_hospital":
            return {}
        return {int(self._encoder_group[i]): i for i in range(len(self.hospital_ids)) if self.num_samples[i] >= 2}

    def _training_kappa(self, i: int) -> torch.Tensor:
        """The block's ``i``-th hospital's training κ (``n × K × W``)."""
        rows = self.features[int(self.starts[i]) : int(self.starts[i] + self.num_samples[i])]
        return rows.float().reshape(-1, self.mae.visible_patches, self.mae.width)

    def _head(self) -> PoRHeadStacked:
        if not isinstance(self.model, PoRHeadStacked):
            raise ConfigError(f"experiment.pipeline = 'por' needs model.name = 'por_head', got {self.config.model.name!r}")
        return self.model

    # -- rounds -------------------------------------------------------------------------

    def train(self, plan: RoundPlan) -> TrainResult:
        """Local training of the heads, then each hospital's EDI tuples in ``extras``."""
        result = super().train(plan)
        local = (result.hospital_ids - self.first).astype(np.int64)
        m = self.config.por.tuples
        rows = np.empty((len(local), m), dtype=np.int64)
        for j, i in enumerate(local.tolist()):
            h = int(self.hospital_ids[i])
            if self.validation_sizes[i] > 0:
                start, count = self.validation_starts[i], self.validation_sizes[i]
            else:
                start, count = self.starts[i], self.num_samples[i]
            rng = derive_rng(self.config.experiment.seed, plan.round, h, Purpose.EDI)
            rows[j] = start + rng.choice(int(count), size=m, replace=bool(count < m))
        model = self._head()
        kappa = self.features[torch.from_numpy(rows)].float().reshape(len(local), m, self.mae.visible_patches, self.mae.width)
        with torch.no_grad():
            outputs = probabilities(model.logits(torch.from_numpy(result.params), kappa), multi_label=self.labels.dim() > 1)
        extras = {
            "kappa": kappa.numpy(),
            "outputs": outputs.numpy().astype(np.float32),
            "labels": self.labels[torch.from_numpy(rows)].numpy(),
        }
        return replace(result, extras=extras)

    def evaluate_global(self, params: np.ndarray) -> dict[str, np.ndarray]:
        """The global head on the test split, as each hospital encodes it: per hospital
        accuracy, loss, macro precision, recall, F1 and AUROC (hospitals sharing an encoder share
        a result), and the targeted attack's success rate when ``attack.kind`` has one (see
        :mod:`bflray.protocol.stages.evaluate`).

        A hospital with its own encoder (``mae.mode = "per_hospital"``) first re-estimates the
        head's BatchNorm statistics on its own training features
        (:func:`bflray.models.batch_norm.reestimate_batch_norm`): the global statistics average
        those of encoders it does not have."""
        model = self._head()
        state = torch.from_numpy(np.array(params, dtype=np.float32)).unsqueeze(0)  # a copy: Ray's arrays are read-only
        groups = len(self._test_kappa)
        metrics = {name: np.full(groups, np.nan) for name in ("accuracy", "loss", *_RATES, "attack_success_rate")}
        attack = self.config.attack
        labels = self._test_labels.numpy()
        own = self._own_statistics_groups()
        with torch.no_grad():
            for g, kappa in enumerate(self._test_kappa):
                head = state
                if g in own:  # this hospital's own encoder: the head's BatchNorm statistics re-estimated on its features
                    head = torch.from_numpy(reestimate_batch_norm(model, params, self._training_kappa(own[g])))[None]
                logits = model.logits(head, kappa)[0]
                metrics["loss"][g] = mean_loss(logits, self._test_labels)
                if torch.isfinite(logits).all():
                    scores = classification_metrics(logits.numpy(), labels, multi_label=labels.ndim == 2)
                    for name in ("accuracy", *_RATES):
                        metrics[name][g] = scores[name]
                if self._targeted:
                    triggered = model.logits(head, self._triggered_kappa[g])[0].numpy() if self._triggered_kappa else None
                    metrics["attack_success_rate"][g] = targeted_success(
                        self._targeted[0], logits.numpy(), labels, target=attack.target_class,
                        source=attack.source_class, triggered_logits=triggered,
                    )
        out = {"hospital_ids": self.hospital_ids}
        out.update({name: values[self._encoder_group] for name, values in metrics.items() if name != "attack_success_rate"})
        if self._targeted:
            out["attack_success_rate"] = metrics["attack_success_rate"][self._encoder_group]
        return out
