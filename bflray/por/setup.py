"""Before PoR's first round: every hospital block gets its encoder(s), from the cache where a
checkpoint with the same content hash exists, else freshly pre-trained, and encodes its data.

Checkpoints live in a cache shared by runs (keyed by :func:`~bflray.por.encoders.encoder_key`
over the images, the MAE settings, the seed and the hospital) and are copied into the run
directory's ``encoders/``, with ``encoders.json`` saying which came from the cache.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from bflray.config import Config
from bflray.data.federated import FederatedData
from bflray.models.factory import mae_spec
from bflray.por.encoders import (
    SHARED,
    EncoderCache,
    average_encoders,
    encoder_key,
    fingerprint,
    pretrain_encoder,
    state_from_bytes,
    state_to_bytes,
)
from bflray.protocol.backend import Backend
from bflray.rundir import write_json

log = logging.getLogger("bflray")


def prepare_encoders(
    config: Config, data: FederatedData, backend: Backend, *, run_dir: Path, cache_dir: Path, progress: bool = False
) -> dict[str, Any]:
    """Give every block its encoders and have it encode its data; returns what was done.
    With ``progress``, a bar over the pre-training epochs (shared encoder) goes to stderr."""
    m = config.mae
    spec = mae_spec(config, data.dataset)
    training = {"epochs": m.epochs, "batch_size": m.batch_size, "learning_rate": m.learning_rate}
    seed = config.experiment.seed
    cache = EncoderCache(cache_dir)
    started = time.perf_counter()
    own = [np.concatenate([s.train, s.validation]) for s in data.splits]
    owners = [SHARED] if m.mode == "shared" else list(range(len(own)))
    images = {SHARED: np.concatenate(own)} if m.mode == "shared" else dict(enumerate(own))
    keys = {
        h: encoder_key(spec=spec, training=training, data_fingerprint=fingerprint(data.dataset.features[images[h]]),
                       seed=seed, hospital=h)
        for h in owners
    }
    blobs: dict[int, bytes] = {}
    losses: dict[int, list[float]] = {}
    for h in owners:
        cached = cache.get(keys[h]) if m.cache else None
        if cached is not None:
            blobs[h] = cached
    missing = [h for h in owners if h not in blobs]
    if missing:
        log.info("pre-training %d encoder(s) for %d epochs (mae.mode = %s)", len(missing), m.epochs, m.mode)
    if missing and m.mode == "shared":
        pixels = torch.from_numpy(data.dataset.images[images[SHARED]].astype(np.float32))
        with tqdm(total=m.epochs, desc="pre-training MAE", unit="epoch", disable=not progress, file=sys.stderr,
                  dynamic_ncols=True) as bar:  # fmt: skip
            def tick(epoch: int, loss: float) -> None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}")

            state, losses[SHARED] = pretrain_encoder(
                pixels, spec, epochs=m.epochs, batch_size=m.batch_size, learning_rate=m.learning_rate, seed=seed,
                hospital=SHARED, on_epoch=tick,
            )
        blobs[SHARED] = state_to_bytes(state)
    elif missing:
        for part in backend.call("pretrain_encoders", np.asarray(missing, dtype=np.int64)):
            for h, (blob, curve) in part.items():
                blobs[h], losses[h] = blob, curve
    for h in missing:
        cache.put(keys[h], blobs[h])
    encoders = dict(blobs)
    if m.mode == "averaged":
        encoders = {SHARED: state_to_bytes(average_encoders([state_from_bytes(blobs[h]) for h in owners]))}
    target = run_dir / "encoders"
    target.mkdir(exist_ok=True)
    for h in owners:
        (target / f"{keys[h]}.pt").write_bytes(blobs[h])
    encoded = backend.configure("set_encoders", encoders)
    summary = {
        "mode": m.mode,
        "encoders": {str(h): {"key": keys[h], "cached": h not in missing, "losses": losses.get(h)} for h in owners},
        "pretrained": len(missing),
        "from_cache": len(owners) - len(missing),
        "seconds": time.perf_counter() - started,
        "encoded_rows": int(sum(e["rows"] for e in encoded)),
    }
    write_json(run_dir / "encoders.json", summary)
    log.info(
        "encoders ready: %d pre-trained, %d from the cache, in %.1f s",
        summary["pretrained"], summary["from_cache"], summary["seconds"],
    )
    return summary
