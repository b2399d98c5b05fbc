"""Issue 5's workload through Flower's Ray simulation engine (run by ``benchmarks/vs_flower.py``).

Runs in the Flower venv (``.venv-flower/``, built by ``make bench``): it imports only flwr,
torch, numpy and the standard library, never bflray. Every simulated client is one hospital
with 128 generated samples of 256 features and 9 classes (class means plus unit Gaussian
noise, as ``bflray.training.synthetic``), and trains the head
``BatchNorm1d(256) → Linear(256,128) → ReLU → Dropout(0.1) → Linear(128,9)`` for 1 local
epoch of batch 32 with SGD (lr 0.05); the server runs Flower's ``FedAvg`` over all N clients
(weighted by examples, no federated evaluation). A client's data are generated once per
worker process and cached, so data generation is not part of Flower's round time.

Usage: ``python benchmarks/flower_workload.py --n 1000 --rounds 3 --num-cpus 1``. Prints one
JSON line: the seconds of every round, measured in the ServerApp from sending a round's
training messages to the end of its aggregation. Round 1 includes the engine's start-up
(actors, imports) and is reported apart.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict  # noqa: E402
from flwr.clientapp import ClientApp  # noqa: E402
from flwr.serverapp import Grid, ServerApp  # noqa: E402
from flwr.serverapp.strategy import FedAvg  # noqa: E402
from flwr.simulation import run_simulation  # noqa: E402

FEATURES, HIDDEN, CLASSES, SAMPLES = 256, 128, 9, 128
BATCH, LEARNING_RATE, DROPOUT = 32, 0.05, 0.1


def build_head() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.BatchNorm1d(FEATURES), torch.nn.Linear(FEATURES, HIDDEN), torch.nn.ReLU(),
        torch.nn.Dropout(DROPOUT), torch.nn.Linear(HIDDEN, CLASSES),
    )


_DATA: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}


def hospital_data(partition: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One client's samples, generated once per worker process."""
    if partition not in _DATA:
        _DATA[partition] = _generate(partition)
    return _DATA[partition]


def _generate(partition: int) -> tuple[torch.Tensor, torch.Tensor]:
    means = np.random.default_rng(0).normal(scale=0.5, size=(CLASSES, FEATURES)).astype(np.float32)
    rng = np.random.default_rng(1 + partition)
    labels = rng.integers(0, CLASSES, size=SAMPLES)
    features = rng.standard_normal((SAMPLES, FEATURES), dtype=np.float32) + means[labels]
    return torch.from_numpy(features), torch.from_numpy(labels)


client_app = ClientApp()


@client_app.train()
def train(message: Message, context: Context) -> Message:
    """One local epoch from the global model; reply with the weights and the example count."""
    features, labels = hospital_data(int(context.node_config["partition-id"]))
    model = build_head()
    model.load_state_dict(message.content["arrays"].to_torch_state_dict())
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    order = torch.randperm(SAMPLES)
    total = 0.0
    for start in range(0, SAMPLES, BATCH):
        rows = order[start : start + BATCH]
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(features[rows]), labels[rows])
        loss.backward()
        optimizer.step()
        total += float(loss)
    metrics = MetricRecord({"train_loss": total / (SAMPLES // BATCH), "num-examples": SAMPLES})
    return Message(RecordDict({"arrays": ArrayRecord(model.state_dict()), "metrics": metrics}), reply_to=message)


class TimedFedAvg(FedAvg):
    """FedAvg that notes when each round's training messages go out and when its
    aggregate is ready."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.sent: dict[int, float] = {}
        self.done: dict[int, float] = {}
        self.failed = 0

    def configure_train(self, server_round, arrays, config, grid):  # type: ignore[no-untyped-def]
        self.sent[server_round] = time.perf_counter()
        return super().configure_train(server_round, arrays, config, grid)

    def aggregate_train(self, server_round, replies):  # type: ignore[no-untyped-def]
        replies = list(replies)
        self.failed += sum(1 for r in replies if r.has_error())
        result = super().aggregate_train(server_round, replies)
        self.done[server_round] = time.perf_counter()
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, required=True, help="simulated clients (hospitals)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, the first of which warms up")
    parser.add_argument("--num-cpus", type=float, default=1.0, help="client_resources.num_cpus")
    parser.add_argument("--cluster-cpus", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    # Ray's workers import the ClientApp by module name (a __main__ object would be pickled
    # by value and lose its helpers): make this file importable as benchmarks.flower_workload.
    root = str(Path(__file__).resolve().parents[1])
    sys.path.insert(0, root)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    from benchmarks import flower_workload as workload

    strategy = TimedFedAvg(
        fraction_train=1.0, fraction_evaluate=0.0, min_train_nodes=args.n, min_available_nodes=args.n,
    )
    server_app = ServerApp()

    @server_app.main()
    def server_main(grid: Grid, context: Context) -> None:
        torch.manual_seed(0)
        strategy.start(grid=grid, initial_arrays=ArrayRecord(build_head().state_dict()), num_rounds=args.rounds)

    started = time.perf_counter()
    run_simulation(
        server_app=server_app, client_app=workload.client_app, num_supernodes=args.n,
        backend_config={
            "client_resources": {"num_cpus": args.num_cpus, "num_gpus": 0.0},
            "init_args": {"num_cpus": args.cluster_cpus, "include_dashboard": False, "log_to_driver": False},
        },
    )
    wall = time.perf_counter() - started
    rounds = [strategy.done[r] - strategy.sent[r] for r in sorted(strategy.done)]
    if len(rounds) != args.rounds or strategy.failed:
        sys.exit(f"Flower finished {len(rounds)} of {args.rounds} rounds; {strategy.failed} client replies were errors")
    print(json.dumps({
        "engine": "flower", "flwr": _version(), "n": args.n, "num_cpus_per_client": args.num_cpus,
        "seconds_first_round": round(rounds[0], 3), "seconds_per_round": [round(s, 3) for s in rounds[1:]],
        "seconds_total": round(wall, 2), "torch_threads_driver": torch.get_num_threads(),
    }), flush=True)


def _version() -> str:
    from importlib.metadata import version

    return version("flwr")


if __name__ == "__main__":
    main()
