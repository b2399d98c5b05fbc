"""The layout of the PoR paper's Table IX on the data available here.

Four participants hold the contiguous ranges 0-25 %, 25-50 %, 50-75 % and 75-100 % of the
training data, each with its own MAE encoder pre-trained on its own images (``mae.mode =
per_hospital``; the paper's encoders are not federated for single-channel images). Rows:

- non-federated: a PoR head trained by the participant alone on its range, for each number
  of epochs in ``--epochs`` (the paper: 100 and 25), under the same encoder as its
  federated rows, plus range 0-100 (one participant with all the data and an encoder
  pre-trained on all of it);
- federated: the PoR pipeline (EDI, validation, rank points, rank-weighted aggregation) for
  ``--rounds`` rounds of ``--local-epochs`` after ``--warmup-epochs`` in round 1 (the paper:
  15 rounds of 5 epochs, after 25 epochs before the first aggregation), evaluated under each
  participant's encoder three ways (``head``):

  - ``global``: the final global head with the aggregated (averaged) BatchNorm running
    statistics it is received with;
  - ``global+bn``: the same head with its BatchNorm running statistics re-estimated on the
    participant's own training κ (one forward pass, no labels;
    :func:`bflray.models.batch_norm.reestimate_batch_norm`). With per-hospital encoders the
    averaged statistics fit no participant's κ, so this is how the pipeline's evaluate stage
    scores the global head in ``per_hospital`` mode (``accuracy_by_round``); in the other
    modes it keeps the received statistics, which fit;
  - ``local``: the participant's own head of the last round (ω of its EDI transaction: the
    previous global head after ``--local-epochs`` of local training).

Columns as the paper's: MSE (here the Brier score, the mean squared error of the predicted
probabilities), accuracy, recall, precision (of class 1 for a binary task, macro-averaged
otherwise). Offline it uses scikit-learn's digits at 28×28; with ``--data-root DIR`` holding
``pneumoniamnist.npz`` it runs the paper's PneumoniaMNIST unchanged.

``--mae-mode`` and ``--aggregation`` take comma-separated lists and run every combination,
one JSON line each, to tell encoder effects (``per_hospital``, ``averaged``, ``shared``)
from aggregation effects (``rank_weighted``, ``top_k_mean``, ``softmax``, and ``uniform``:
every valid head weighted equally, FedAvg's rule for ranges of equal size).

    python -m benchmarks.por_accuracy [--data-root DIR] [--rounds 15] [--epochs 100,25]
        [--mae-mode per_hospital,averaged,shared] [--aggregation rank_weighted,uniform]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import torch

from bflray.api import run
from bflray.config import Config, load_config
from bflray.data.federated import FederatedData, prepare_federated_data
from bflray.models.batch_norm import reestimate_batch_norm
from bflray.models.factory import build_model_spec, mae_spec
from bflray.models.mae import MAESpec
from bflray.models.por_stacked import PoRHeadStacked
from bflray.por.edi import EDITransaction
from bflray.por.encoders import (
    SHARED,
    EncoderCache,
    EncoderState,
    average_encoders,
    encode,
    encoder_key,
    fingerprint,
    pretrain_encoder,
    state_from_bytes,
    state_to_bytes,
)
from bflray.store.blobs import BlobStore

ROOT = Path(__file__).resolve().parents[1]
RANGES = ("0-25", "25-50", "50-75", "75-100")
MODES = ("per_hospital", "averaged", "shared")
AGGREGATIONS = {
    "rank_weighted": ["por.aggregation=rank_weighted"],
    "top_k_mean": ["por.aggregation=top_k_mean", "por.top_k=0"],
    "softmax": ["por.aggregation=softmax"],
    "uniform": ["por.aggregation=top_k_mean", f"por.top_k={len(RANGES)}"],  # the mean of all valid heads
}


def configure(args: argparse.Namespace, *, mode: str = "per_hospital", aggregation: str = "rank_weighted") -> Config:
    overrides = [
        f"federation.hospitals={len(RANGES)}", "data.partition=ranges", f"mae.mode={mode}", "runtime.backend=inprocess",
        "metrics.enabled=false", f"experiment.rounds={args.rounds}", f"training.local_epochs={args.local_epochs}",
        f"training.warmup_epochs={args.warmup_epochs}", f"mae.epochs={args.mae_epochs}", f"experiment.seed={args.seed}",
        *AGGREGATIONS[aggregation],
    ]
    if args.data_root:
        overrides += ["data.dataset=pneumoniamnist", "data.source=medmnist", f"data.root='{args.data_root}'"]
    else:
        overrides += ["data.source=offline"]
    return load_config(ROOT / "configs" / "por.toml", overrides)


def metrics(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> dict[str, float]:
    """Brier score, accuracy, recall and precision (class 1 if binary, else macro)."""
    probabilities = torch.softmax(logits, dim=-1)
    predicted = probabilities.argmax(dim=-1)
    onehot = torch.nn.functional.one_hot(labels, num_classes).float()
    classes = [1] if num_classes == 2 else list(range(num_classes))
    recall, precision = [], []
    for c in classes:
        tp = float(((predicted == c) & (labels == c)).sum())
        recall.append(tp / max(1.0, float((labels == c).sum())))
        precision.append(tp / max(1.0, float((predicted == c).sum())))
    return {
        "mse": float((probabilities - onehot).square().sum(dim=-1).mean()),
        "accuracy": float((predicted == labels).float().mean()),
        "recall": float(np.mean(recall)),
        "precision": float(np.mean(precision)),
    }


def train_alone(
    model: PoRHeadStacked, kappa: torch.Tensor, labels: torch.Tensor, *, epochs: int, config: Config, seed: int
) -> torch.Tensor:
    """A head trained by one participant on its own κ (mini-batches, the preset's optimiser)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # dropout's masks: the global generator
        head = model.load(model.init(np.random.default_rng(seed))).train()
        optimiser = torch.optim.Adam(head.parameters(), lr=config.training.learning_rate)
        generator = torch.Generator().manual_seed(seed)
        batch = config.training.batch_size
        for _ in range(epochs):
            order = torch.randperm(len(labels), generator=generator)
            for start in range(0, len(labels), batch):
                rows = order[start : start + batch]
                if len(rows) < 2:  # BatchNorm needs two samples
                    continue
                loss = torch.nn.functional.cross_entropy(head(kappa[rows]), labels[rows])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
    return torch.from_numpy(model.flatten(head.eval()))


def run_encoders(run_dir: Path, mode: str) -> dict[int, tuple[EncoderState, int]]:
    """Each participant's encoder in a finished run and the id its test masks are drawn
    for, as the PoR block encodes them (``bflray/roles/por_block.py``)."""
    keys = json.loads((run_dir / "encoders.json").read_text())["encoders"]

    def load(h: int) -> EncoderState:
        return state_from_bytes((run_dir / "encoders" / f"{keys[str(h)]['key']}.pt").read_bytes())

    if mode == "shared":
        return dict.fromkeys(range(len(RANGES)), (load(SHARED), SHARED))
    states = [load(h) for h in range(len(RANGES))]
    if mode == "averaged":
        return dict.fromkeys(range(len(RANGES)), (average_encoders(states), SHARED))
    return {h: (states[h], h) for h in range(len(RANGES))}


def encoder_on_everything(config: Config, data: FederatedData, spec: MAESpec, cache: EncoderCache) -> EncoderState:
    """The 0-100 participant's encoder: pre-trained on every participant's images, which is
    ``mae.mode = shared``'s encoder; cached under the key that mode's runs use."""
    m = config.mae
    everyone = np.concatenate([np.concatenate([s.train, s.validation]) for s in data.splits])
    training = {"epochs": m.epochs, "batch_size": m.batch_size, "learning_rate": m.learning_rate}
    key = encoder_key(spec=spec, training=training, data_fingerprint=fingerprint(data.dataset.features[everyone]),
                      seed=config.experiment.seed, hospital=SHARED)
    cached = cache.get(key)
    if cached is not None:
        return state_from_bytes(cached)
    images = torch.from_numpy(data.dataset.images[everyone].astype(np.float32))
    state, _ = pretrain_encoder(images, spec, epochs=m.epochs, batch_size=m.batch_size, learning_rate=m.learning_rate,
                                seed=config.experiment.seed, hospital=SHARED)
    cache.put(key, state_to_bytes(state))
    return state


def last_local_heads(run_dir: Path) -> dict[int, torch.Tensor]:
    """ω of every participant's EDI transaction in the run's last round."""
    store = BlobStore(run_dir / "store")
    manifest = store.get_manifest(store.rounds()[-1])
    return {
        h: torch.from_numpy(np.array(EDITransaction.decode(store.get(payload)).weights, dtype=np.float32))
        for h, payload in zip(manifest.hospital_ids, manifest.payload_hashes, strict=True)
    }


class Bench:
    """What every run of one invocation shares: data, test κ per encoder, the 0-100 encoder."""

    def __init__(self, args: argparse.Namespace, config: Config, out: Path) -> None:
        self.args = args
        self.data = prepare_federated_data(config)
        self.dataset = self.data.dataset
        self.spec = mae_spec(config, self.dataset)
        model = build_model_spec(config, self.dataset)
        if not isinstance(model, PoRHeadStacked):
            raise TypeError(f"configs/por.toml must build the por_head, got {type(model).__name__}")
        self.model = model
        self.images = torch.from_numpy(self.dataset.images.astype(np.float32))
        self.labels = torch.from_numpy(self.dataset.labels.astype(np.int64)).reshape(len(self.dataset), -1)[:, 0]
        self.test = torch.from_numpy(self.data.test)
        self.seed = config.experiment.seed
        self.cache = EncoderCache(out / ".cache" / "encoders")  # where bflray.api.run keeps its encoders
        self._everything: dict[int, dict[str, Any]] = {}  # the 0-100 rows by epochs: the same in every mode

    def kappa(self, rows: torch.Tensor, state: EncoderState, who: int) -> torch.Tensor:
        return encode(self.images[rows], state, self.spec, seed=self.seed, hospital=who)[0]

    def score(self, head: torch.Tensor, kappa_test: torch.Tensor) -> dict[str, float]:
        return metrics(self.model.logits(head[None], kappa_test)[0], self.labels[self.test], self.dataset.num_classes)

    def federated(self, run_dir: Path, mode: str, aggregation: str) -> list[dict[str, Any]]:
        encoders = run_encoders(run_dir, mode)
        global_state = torch.from_numpy(np.load(run_dir / "model.npz")["params"])
        local = last_local_heads(run_dir)
        rows: list[dict[str, Any]] = []
        for h, name in enumerate(RANGES):
            state, masks = encoders[h]
            kappa_test = self.kappa(self.test, state, masks)
            train = torch.from_numpy(self.data.splits[h].train)
            kappa_train = self.kappa(train, state, h)  # the block's training masks are the hospital's own
            heads = {
                "global": global_state,
                "global+bn": torch.from_numpy(reestimate_batch_norm(self.model, global_state.numpy(), kappa_train)),
                "local": local[h],
            }
            for kind, head in heads.items():
                rows.append({"range": name, "setting": "federated", "head": kind, "encoder": mode,
                             "aggregation": aggregation, "epochs": self.args.local_epochs, "rounds": self.args.rounds,
                             **self.score(head, kappa_test)})
        return rows

    def alone(self, config: Config, run_dir: Path, mode: str) -> list[dict[str, Any]]:
        encoders = run_encoders(run_dir, mode)
        everything = encoder_on_everything(config, self.data, self.spec, self.cache)
        all_rows = np.concatenate([np.concatenate([s.train, s.validation]) for s in self.data.splits])
        participants = [("0-100", everything, SHARED, SHARED, "all", all_rows)] + [
            (name, encoders[h][0], h, encoders[h][1], mode, self.data.splits[h].train) for h, name in enumerate(RANGES)
        ]
        rows: list[dict[str, Any]] = []
        for epochs in (int(e) for e in self.args.epochs.split(",") if e):
            for name, state, who, masks, encoder, train_rows in participants:
                if name == "0-100" and epochs in self._everything:
                    rows.append(self._everything[epochs])
                    continue
                train = torch.from_numpy(train_rows)
                head = train_alone(self.model, self.kappa(train, state, who), self.labels[train], epochs=epochs,
                                   config=config, seed=self.seed)
                rows.append({"range": name, "setting": "non-federated", "head": "alone", "encoder": encoder,
                             "aggregation": None, "epochs": epochs, "rounds": None,
                             **self.score(head, self.kappa(self.test, state, masks))})
                if name == "0-100":
                    self._everything[epochs] = rows[-1]
        return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"{'range':>7} {'setting':>14} {'head':>9} {'encoder':>12} {'epochs':>6} {'rounds':>6} "
          f"{'MSE':>7} {'acc':>7} {'recall':>7} {'prec':>7}", file=sys.stderr)
    for r in rows:
        print(f"{r['range']:>7} {r['setting']:>14} {r['head']:>9} {r['encoder']:>12} {r['epochs']:>6} "
              f"{str(r['rounds'] or '-'):>6} {r['mse']:>7.4f} {r['accuracy']:>7.2%} {r['recall']:>7.2%} "
              f"{r['precision']:>7.2%}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", help="folder with pneumoniamnist.npz (default: offline digits)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--local-epochs", type=int, default=5)
    parser.add_argument("--warmup-epochs", type=int, default=25, help="round 1's local epochs (the paper: 25)")
    parser.add_argument("--epochs", default="100,25", help="non-federated epochs, comma-separated ('' for none)")
    parser.add_argument("--mae-epochs", type=int, default=20)
    parser.add_argument("--mae-mode", default="per_hospital", help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--aggregation", default="rank_weighted", help=f"comma-separated, of {', '.join(AGGREGATIONS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for this small head "
                        "on a shared machine)")
    parser.add_argument("--out", default=None, help="where the run directories and the encoder cache go "
                        "(default: a temp dir)")
    args = parser.parse_args(argv)
    modes, aggregations = args.mae_mode.split(","), args.aggregation.split(",")
    unknown = [m for m in modes if m not in MODES] + [a for a in aggregations if a not in AGGREGATIONS]
    if unknown:
        parser.error(f"unknown --mae-mode or --aggregation: {', '.join(unknown)}")
    torch.set_num_threads(args.threads)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="por-accuracy-"))
    bench: Bench | None = None
    for mode in modes:
        alone: list[dict[str, Any]] | None = None
        for aggregation in aggregations:
            started = time.perf_counter()
            config = configure(args, mode=mode, aggregation=aggregation)
            result = run(config, out_dir=out, progress=False)
            federated_seconds = time.perf_counter() - started
            bench = bench or Bench(args, config, out)
            rows = bench.federated(result.run_dir, mode, aggregation)
            if alone is None:  # the encoders of a mode do not depend on the aggregation
                alone = bench.alone(config, result.run_dir, mode)
            rows += alone
            by_round = pq.read_table(result.run_dir / "rounds.parquet", columns=["accuracy"])["accuracy"].to_pylist()
            line = {
                "benchmark": "por_accuracy", "dataset": bench.dataset.name, "source": bench.data.loaded.source_used,
                "participants": len(RANGES), "test_samples": int(len(bench.test)), "mae_mode": mode,
                "aggregation": aggregation, "mae_epochs": args.mae_epochs, "seed": args.seed,
                "federated_seconds": round(federated_seconds, 1), "seconds": round(time.perf_counter() - started, 1),
                "load_average": [round(v, 2) for v in os.getloadavg()],
                "accuracy_by_round": [round(float(a), 4) for a in by_round],  # the pipeline's evaluate stage
                "run_dir": str(result.run_dir),
                "rows": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in rows],
            }
            print(json.dumps(line), flush=True)
            print_table(line["rows"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
