"""MAE encoders for PoR: pre-training on a hospital's own unlabelled images, masked
encoding into κ, averaging, and a content-addressed checkpoint cache.

Three arrangements (``mae.mode``), after the PoR paper's Sec. IV:

- ``per_hospital``: every hospital pre-trains its own encoder on its own images and never
  shares it (the paper's default for single-channel images, Table IX); practical up to a few
  dozen hospitals on a CPU;
- ``averaged``: as ``per_hospital``, then the encoders are averaged once before federation
  (the paper's compromise for multi-channel images, Table VIII);
- ``shared``: one encoder pre-trained on the pooled unlabelled training images (a consortium
  encoder); the default for large N.

All randomness (initialisation, batch order, masks) derives from
``(seed, 0, hospital, MAE)`` and, for encoding, ``(seed, 0, hospital, MASK)``.
"""

from __future__ import annotations

from collections.abc import Callable

import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from bflray.models.mae import MAESpec, MaskedAutoencoder, encode_masked
from bflray.seeding import FEDERATION, Purpose, derive_seed_sequence

EncoderState = dict[str, torch.Tensor]
SHARED = FEDERATION - 1  # the "hospital" id of a shared encoder's draws (and its key in encoder maps)


def _generator(seed: int, hospital: int, purpose: Purpose) -> torch.Generator:
    words = derive_seed_sequence(seed, 0, hospital, purpose).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(words[0]) << 32 | int(words[1]))


def pretrain_encoder(
    images: torch.Tensor,
    spec: MAESpec,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    hospital: int,
    on_epoch: Callable[[int, float], None] | None = None,
) -> tuple[EncoderState, list[float]]:
    """Pre-train an MAE on ``images`` (``N × C × H × W``); return the encoder's state and
    the mean training loss of every epoch. ``on_epoch(epoch, loss)`` is told after each
    epoch (a progress bar)."""
    generator = _generator(seed, hospital, Purpose.MAE)  # the hospital's batches and masks
    init = _generator(seed, SHARED, Purpose.MAE)  # one initialisation for every encoder of the run
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(2**62, (1,), generator=init)))
        model = MaskedAutoencoder(spec)
    optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.05)
    losses: list[float] = []
    model.train()
    for _ in range(epochs):
        order = torch.randperm(images.shape[0], generator=generator)
        total = 0.0
        for start in range(0, images.shape[0], batch_size):
            batch = images[order[start : start + batch_size]]
            loss = model.loss(batch, generator)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * batch.shape[0]
        losses.append(total / max(1, images.shape[0]))
        if on_epoch is not None:
            on_epoch(len(losses), losses[-1])
    return {k: v.detach().clone() for k, v in model.encoder.state_dict().items()}, losses


def encode(
    images: torch.Tensor, state: EncoderState, spec: MAESpec, *, seed: int, hospital: int, views: int = 1
) -> torch.Tensor:
    """κ of every image under ``views`` independent masks: ``views × N × K × width``."""
    model = MaskedAutoencoder(spec)
    model.encoder.load_state_dict(state)
    generator = _generator(seed, hospital, Purpose.MASK)
    return torch.stack([encode_masked(model.encoder, images, generator) for _ in range(views)])


def average_encoders(states: Sequence[EncoderState]) -> EncoderState:
    """The element-wise mean of several encoders' states (same architecture)."""
    if not states:
        raise ValueError("no encoder states to average")
    return {k: torch.stack([s[k].float() for s in states]).mean(dim=0) for k in states[0]}


def encoder_key(*, spec: MAESpec, training: Mapping[str, object], data_fingerprint: str, seed: int, hospital: int) -> str:
    """Content hash of everything an encoder checkpoint depends on: the images it saw, the
    architecture and training settings, the seed and whose draws it used."""
    payload = json.dumps(
        {"spec": spec.__dict__, "training": dict(training), "data": data_fingerprint, "seed": seed, "hospital": hospital,
         "init": "shared"},
        sort_keys=True, default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def fingerprint(images: np.ndarray) -> str:
    """A digest of an image array's bytes and shape."""
    h = hashlib.sha256(str(images.shape).encode())
    h.update(np.ascontiguousarray(images, dtype=np.float32).tobytes())
    return h.hexdigest()


def state_to_bytes(state: EncoderState) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def state_from_bytes(data: bytes) -> EncoderState:
    loaded: EncoderState = torch.load(io.BytesIO(data), weights_only=True)
    return loaded


class EncoderCache:
    """Checkpoints by key under ``root`` (``<key>.pt``); written atomically."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def get(self, key: str) -> bytes | None:
        path = self.root / f"{key}.pt"
        return path.read_bytes() if path.exists() else None

    def put(self, key: str, data: bytes) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f"{key}.pt"
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        return path
