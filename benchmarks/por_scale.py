"""PoR ranking time against the number of classifiers N, exact and committee mode.

Workload (issue 4): the PoR head on digits encoded by one shared MAE (κ of 28×28 digits),
one EDI datapoint per hospital, hospitals of mixed quality: as in a round, every hospital
starts from the global head (trained once on all digits) and fine-tunes it on
``--samples`` examples whose labels are replaced at random with probability
q ~ U(0, ``--max-noise``) (at most ``--pool`` distinct heads; further hospitals reuse one
but publish their own datapoint). Setup (encoder, κ, training the N heads) is not timed; what is
timed is the ranking: scoring every head on the pooled N datapoints (exact, O(N²)) or on a
seeded committee of ``--committee`` datapoints each (O(N·s)), drawn ``--sampling`` uniform or
stratified by label and ``--regions`` κ regions per label (``committee_strata``, the library's
default), reducing and ranking; the committee time includes building the strata and drawing
the committees. Kendall τ compares the committee ranking with the exact one where the exact
one was computed.

Prints one JSON line per (N, mode, sampling, s):

    python -m benchmarks.por_scale --n 100,1000,2000,10000 [--committee 128,192,256]
        [--sampling uniform,stratified] [--regions 1,16] [--exact-max 2000]

``noise_tau`` is Kendall τ between a ranking and the hospitals' true quality order (least
label noise first): how well the ranking finds the better classifiers. ``cpu_seconds`` is the
process's CPU time over all threads and ``loadavg`` the 1-minute load average when the timing
ended: on a shared machine wall time depends on what else runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau

from bflray.config import load_config
from bflray.data.federated import prepare_federated_data
from bflray.models.factory import build_model_spec, mae_spec
from bflray.models.por_stacked import PoRHeadStacked
from bflray.por import get_reduction, get_score, rank_scores, sample_committees, score_classifiers
from bflray.por.encoders import SHARED, EncoderCache, encode, encoder_key, fingerprint, pretrain_encoder, state_from_bytes, state_to_bytes
from bflray.por.ranking import committee_strata


def encoded_digits(cache_dir: Path) -> tuple[torch.Tensor, torch.Tensor, PoRHeadStacked]:
    """κ of every digit under one shared encoder (cached), the labels, and the head."""
    config = load_config(None, ["experiment.pipeline=por", "model.name=por_head", "data.dataset=digits28",
                                "mae.mask_ratio=0.5", "mae.epochs=20", "mae.batch_size=128"])
    data = prepare_federated_data(config)
    spec = mae_spec(config, data.dataset)
    images = data.dataset.images.astype(np.float32)
    training = {"epochs": 20, "batch_size": 128, "learning_rate": 1e-3}
    key = encoder_key(spec=spec, training=training, data_fingerprint=fingerprint(images), seed=0, hospital=SHARED)
    cache = EncoderCache(cache_dir)
    blob = cache.get(key)
    if blob is None:
        state, _ = pretrain_encoder(torch.from_numpy(images), spec, seed=0, hospital=SHARED, **training)  # type: ignore[arg-type]
        blob = state_to_bytes(state)
        cache.put(key, blob)
    kappa = encode(torch.from_numpy(images), state_from_bytes(blob), spec, seed=0, hospital=SHARED)[0]
    model = build_model_spec(config, data.dataset)
    assert isinstance(model, PoRHeadStacked)
    return kappa, torch.from_numpy(data.dataset.labels), model


def global_head(model: PoRHeadStacked, kappa: torch.Tensor, labels: torch.Tensor, *, epochs: int = 30) -> torch.Tensor:
    """A head trained on every digit (mini-batches of 32, Adam): the round's global model."""
    rng = np.random.default_rng(0)
    head = model.load(model.init(rng)).train()
    optimiser = torch.optim.Adam(head.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        order = torch.randperm(len(labels), generator=generator)
        for start in range(0, len(labels), 32):
            batch = order[start : start + 32]
            loss = torch.nn.functional.cross_entropy(head(kappa[batch]), labels[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return torch.from_numpy(model.flatten(head.eval()))


def train_heads(
    model: PoRHeadStacked, start: torch.Tensor, kappa: torch.Tensor, labels: torch.Tensor, *, n: int, pool: int,
    samples: int, max_noise: float, seed: int,
) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """N heads of mixed quality, as after a round's local training: ``min(n, pool)`` distinct
    heads fine-tune the global head ``start`` (full batch, Adam, 20 steps) on ``samples``
    examples whose labels are replaced at random with probability q ~ U(0, ``max_noise``);
    hospitals beyond the pool reuse a head but keep their own EDI datapoint. Returns the N
    states, their EDI datapoint indices and their noise levels."""
    rng = np.random.default_rng(seed)
    distinct = min(n, pool)
    noise = rng.uniform(0.0, max_noise, size=distinct)
    rows = rng.integers(0, len(labels), size=(distinct, samples))
    y = labels[torch.from_numpy(rows)].clone()
    flip = torch.from_numpy(rng.random((distinct, samples)) < noise[:, None])
    y[flip] = torch.from_numpy(rng.integers(0, 10, size=int(flip.sum())))
    states = start.unsqueeze(0).repeat(distinct, 1)
    p = model.num_params
    for lo in range(0, distinct, 64):
        hi = min(lo + 64, distinct)
        params = states[lo:hi, :p].clone().requires_grad_(True)
        buffers = states[lo:hi, p:].clone()
        x = kappa[torch.from_numpy(rows[lo:hi])].reshape(hi - lo, samples, -1)
        mask = torch.ones(hi - lo, samples, dtype=torch.bool)
        optimiser = torch.optim.Adam([params], lr=0.01)
        for _ in range(20):
            logits, buffers = model.forward_train(model.unflatten(params), buffers, x, mask, None)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 10), y[lo:hi].reshape(-1), reduction="sum") / samples
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        states[lo:hi] = torch.cat([params.detach(), buffers], dim=1)
    owner = np.arange(n) % distinct
    return states[torch.from_numpy(owner)].contiguous(), rng.integers(0, len(labels), size=n), noise[owner]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", default="100,1000,2000,10000", help="comma-separated numbers of classifiers")
    parser.add_argument("--committee", default="128,192,256", help="comma-separated committee sizes s")
    parser.add_argument(
        "--sampling", default="stratified", help="comma-separated committee sampling schemes: uniform, stratified"
    )
    parser.add_argument(
        "--regions", default="16", help="stratified: comma-separated κ regions per label (1: by label only)"
    )
    parser.add_argument("--exact-max", type=int, default=2000, help="largest N scored exactly (O(N²))")
    parser.add_argument("--samples", type=int, default=50, help="fine-tuning examples per distinct head")
    parser.add_argument("--pool", type=int, default=2000, help="distinct heads at most; more hospitals reuse them")
    parser.add_argument("--max-noise", type=float, default=1.0, help="label noise is U(0, this) per head")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache", default="runs/.cache/encoders")
    args = parser.parse_args(argv)
    schemes = args.sampling.split(",")
    if unknown := set(schemes) - {"uniform", "stratified"}:
        parser.error(f"--sampling: unknown schemes {sorted(unknown)}; known: uniform, stratified")
    torch.set_num_threads(args.threads)
    kappa, labels, model = encoded_digits(Path(args.cache))
    score, reduce = get_score("rank_points"), get_reduction("sum")
    global_state = global_head(model, kappa, labels)
    # Warm up (thread pools, allocator) so that the first timing is not the odd one out.
    score_classifiers(global_state.repeat(4, 1), kappa[:64], labels[:64], model.logits, score)
    for n in (int(v) for v in args.n.split(",")):
        setup = time.perf_counter()
        states, edi_rows, noise = train_heads(
            model, global_state, kappa, labels, n=n, pool=args.pool, samples=args.samples, max_noise=args.max_noise, seed=n
        )
        pooled, pooled_labels = kappa[torch.from_numpy(edi_rows)], labels[torch.from_numpy(edi_rows)]
        setup = time.perf_counter() - setup
        exact = None
        if n <= args.exact_max:
            start, cpu = time.perf_counter(), time.process_time()
            exact = rank_scores(score_classifiers(states, pooled, pooled_labels, model.logits, score), reduce)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            _emit(
                n=n, mode="exact", seconds=seconds, cpu_seconds=cpu, loadavg=_loadavg(), datapoints=n, setup=setup,
                noise_tau=_tau(-noise, exact.scores),
            )
        variants = [(scheme, regions) for scheme in schemes for regions in (
            [int(v) for v in args.regions.split(",")] if scheme == "stratified" else [None]
        )]
        for scheme, regions in variants:
            for size in (int(v) for v in args.committee.split(",")):
                start, cpu = time.perf_counter(), time.process_time()
                strata = None
                if regions is not None:
                    strata = committee_strata(pooled_labels.numpy(), pooled.numpy(), regions=regions)
                committees = sample_committees(seed=0, round_=1, classifiers=n, datapoints=n, size=size, strata=strata)
                sampled = rank_scores(
                    score_classifiers(states, pooled, pooled_labels, model.logits, score, committees=committees), reduce
                )
                seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
                _emit(
                    n=n, mode="committee", sampling=scheme, regions=regions,
                    seconds=seconds, cpu_seconds=cpu, loadavg=_loadavg(),
                    datapoints=min(size, n), setup=setup,
                    kendall_tau_to_exact=None if exact is None else _tau(sampled.scores, exact.scores),
                    noise_tau=_tau(-noise, sampled.scores),
                )
    return 0


def _loadavg() -> float | None:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _tau(a: np.ndarray, b: np.ndarray) -> float:
    return float(kendalltau(a, b).statistic)


def _emit(**fields: object) -> None:
    line = {"benchmark": "por_scale", **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in fields.items()}}
    print(json.dumps(line), flush=True)
    regions = f" regions={fields['regions']}" if fields.get("regions") is not None else ""
    what = f"{fields['mode']} {fields.get('sampling', '')}{regions} s={fields['datapoints']}".replace("  ", " ")
    print(f"  N={fields['n']} {what}: {fields['seconds']:.2f} s (load {fields['loadavg']})", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
