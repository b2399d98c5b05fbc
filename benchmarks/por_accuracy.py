"""The layout of the PoR paper's Table IX on the data available here.

Four participants hold the contiguous ranges 0-25 %, 25-50 %, 50-75 % and 75-100 % of the
training data, each with its own MAE encoder pre-trained on its own images (``mae.mode =
per_hospital``; the paper's encoders are not federated for single-channel images). Rows:

- non-federated: a PoR head trained by the participant alone on its range, for each number
  of epochs in ``--epochs`` (the paper: 100 and 25), plus range 0-100 (one participant with
  all the data and an encoder pre-trained on all of it);
- federated: the PoR pipeline (EDI, validation, rank points, rank-weighted aggregation) for
  ``--rounds`` rounds of ``--local-epochs`` after ``--warmup-epochs`` in round 1 (the paper:
  15 rounds of 5 epochs, after 25 epochs before the first aggregation), the final
  global head evaluated under each participant's encoder.

Columns as the paper's: MSE (here the Brier score, the mean squared error of the predicted
probabilities), accuracy, recall, precision (of class 1 for a binary task, macro-averaged
otherwise). Offline it uses scikit-learn's digits at 28×28; with ``--data-root DIR`` holding
``pneumoniamnist.npz`` it runs the paper's PneumoniaMNIST unchanged. Prints one JSON line.

    python -m benchmarks.por_accuracy [--data-root DIR] [--rounds 15] [--epochs 100,25]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bflray.api import run
from bflray.config import Config, load_config
from bflray.data.federated import prepare_federated_data
from bflray.models.factory import build_model_spec, mae_spec
from bflray.models.por_stacked import PoRHeadStacked
from bflray.por.encoders import SHARED, encode, pretrain_encoder, state_from_bytes

ROOT = Path(__file__).resolve().parents[1]
RANGES = ("0-25", "25-50", "50-75", "75-100")


def configure(args: argparse.Namespace) -> Config:
    overrides = [
        "federation.hospitals=4", "data.partition=ranges", "mae.mode=per_hospital", "runtime.backend=inprocess",
        "metrics.enabled=false", f"experiment.rounds={args.rounds}", f"training.local_epochs={args.local_epochs}", f"training.warmup_epochs={args.warmup_epochs}",
        f"mae.epochs={args.mae_epochs}", f"experiment.seed={args.seed}",
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


def train_alone(model: PoRHeadStacked, kappa: torch.Tensor, labels: torch.Tensor, *, epochs: int, config: Config, seed: int) -> torch.Tensor:
    """A head trained by one participant on its own κ (mini-batches, the preset's optimiser)."""
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", help="folder with pneumoniamnist.npz (default: offline digits)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--local-epochs", type=int, default=5)
    parser.add_argument("--warmup-epochs", type=int, default=25, help="round 1's local epochs (the paper: 25)")
    parser.add_argument("--epochs", default="100,25", help="non-federated epochs, comma-separated")
    parser.add_argument("--mae-epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="where the federated run directory goes (default: a temp dir)")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    config = configure(args)
    started = time.perf_counter()
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="por-accuracy-"))
    result = run(config, out_dir=out, progress=False)
    data = prepare_federated_data(config)
    dataset = data.dataset
    spec = mae_spec(config, dataset)
    model = build_model_spec(config, dataset)
    assert isinstance(model, PoRHeadStacked)
    images = torch.from_numpy(dataset.images.astype(np.float32))
    labels = torch.from_numpy(dataset.labels.astype(np.int64)).reshape(len(dataset), -1)[:, 0]
    test = torch.from_numpy(data.test)
    seed = config.experiment.seed
    encoders = json.loads((result.run_dir / "encoders.json").read_text())["encoders"]
    states = {h: state_from_bytes((result.run_dir / "encoders" / f"{encoders[str(h)]['key']}.pt").read_bytes()) for h in range(4)}
    global_state = torch.from_numpy(np.load(result.run_dir / "model.npz")["params"])
    rows: list[dict[str, object]] = []
    for h, name in enumerate(RANGES):  # federated: the global head under each participant's encoder
        kappa_test = encode(images[test], states[h], spec, seed=seed, hospital=h)[0]
        rows.append({"range": name, "setting": "federated", "epochs": args.local_epochs, "rounds": args.rounds,
                     **metrics(model.logits(global_state[None], kappa_test)[0], labels[test], dataset.num_classes)})
    everyone = np.concatenate([np.concatenate([s.train, s.validation]) for s in data.splits])
    m = config.mae
    all_state, _ = pretrain_encoder(images[everyone], spec, epochs=m.epochs, batch_size=m.batch_size,
                                    learning_rate=m.learning_rate, seed=seed, hospital=SHARED)
    participants = [("0-100", all_state, SHARED, everyone)] + [
        (name, states[h], h, data.splits[h].train) for h, name in enumerate(RANGES)
    ]
    for epochs in (int(e) for e in args.epochs.split(",")):
        for name, state, who, train_rows in participants:
            kappa = encode(images[torch.from_numpy(train_rows)], state, spec, seed=seed, hospital=who)[0]
            head = train_alone(model, kappa, labels[torch.from_numpy(train_rows)], epochs=epochs, config=config, seed=seed)
            kappa_test = encode(images[test], state, spec, seed=seed, hospital=who)[0]
            rows.append({"range": name, "setting": "non-federated", "epochs": epochs, "rounds": None,
                         **metrics(model.logits(head[None], kappa_test)[0], labels[test], dataset.num_classes)})
    line = {
        "benchmark": "por_accuracy", "dataset": dataset.name, "source": data.loaded.source_used,
        "participants": 4, "test_samples": int(len(test)), "seconds": round(time.perf_counter() - started, 1),
        "run_dir": str(result.run_dir), "rows": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in rows],
    }
    print(json.dumps(line), flush=True)
    print(f"{'range':>7} {'setting':>14} {'epochs':>6} {'rounds':>6} {'MSE':>7} {'acc':>7} {'recall':>7} {'prec':>7}", file=sys.stderr)
    for r in line["rows"]:  # type: ignore[union-attr]
        print(f"{r['range']:>7} {r['setting']:>14} {r['epochs']:>6} {str(r['rounds'] or '-'):>6} {r['mse']:>7.4f} "
              f"{r['accuracy']:>7.2%} {r['recall']:>7.2%} {r['precision']:>7.2%}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
