"""Chain cost of FLock rounds at N hospitals: gas, bytes, storage growth and seconds, both vote modes.

What it measures: for each N and each vote mode, a fresh anvil with the federation deployed
(``bflray.chain.federation.deploy_federation``): ``N + committee`` hospitals registered (each
with ``--tokens`` tokens, enough that nobody runs out), 4 validators, a plan with a cohort of N
proposers and a committee of ``--committee`` voters (100) per round, γ_p = γ_v = 8. Each round
is the chain work of one FLock round:

    ledger.openRound + voting.openRound → draw (chunks under the block gas limit) → votes →
    settle (chunks) → Reputation.update of every participant (chunks) → ledger.recordRound →
    every validator's attest

with votes either ``per_hospital`` (each voter signs and sends its own ``vote`` transaction,
all sent in one batch request and mined together) or ``batched`` (voters sign EIP-712
ballots, one relayer sends ``voteBatch``). 80 % of the voters accept.

Per round: chain seconds (wall time of all the round's chain calls, Python included), gas,
calldata and log bytes, transactions, and new storage slots (slots written that were empty,
from anvil's ``prestateTracer`` state diffs, traced after the round's clock stopped). The slots a
round would create on first use (participation records, draw-permutation positions, draw
entries, reputation records) are written at deployment (``reserveSlots``, ``reserveRecords``,
timed as ``setup_seconds.reserve_slots``), so a round only creates its own per-round records
(round state, ledger opening, attestations) and the count does not depend on N. Summaries: ``round1``, ``last`` (round
R) and ``later`` (mean of rounds 2..R); per-hospital figures divide ``later`` by N. In ``per_hospital`` mode it also reports the vote burst's transactions
per second and a sustained burst: every registered hospital withdraws 1 token with its own
transaction. Setup (account derivation, deployment, registration, token deposits, ether) is
timed separately.

Usage: ``python -m benchmarks.chain --n 10,100,1000,10000 [--modes per_hospital,batched]
[--rounds 3] [--committee 100]``. One JSON line per (N, mode).
"""

from __future__ import annotations

import argparse
import os
import random
import time
from typing import Any

from benchmarks.common import emit
from bflray.chain import Chain
from bflray.chain.federation import VOTE_MODES, Federation, deploy_federation
from bflray.chain.flock_reference import draw_seed
from bflray.chain.merkle import keccak
from bflray.chain.meter import ChainMeter
from bflray.chain.params import Plan, ReputationParams, Stakes, fixed
from bflray.chain.rpc import JsonRpc
from bflray.config.schema import ChainConfig

VALIDATORS = 4


def _round(fed: Federation, r: int, mode: str, rng: random.Random) -> dict[str, Any]:
    start = time.perf_counter()
    fed.open_round(r, draw_seed(1, r))
    draw = fed.draw(r)
    votes = {h: rng.random() < 0.8 for h in draw.voters}
    vote = fed.vote(r, votes, mode)  # type: ignore[arg-type]
    fed.settle(r)
    participants = draw.proposers + draw.voters
    fed.update_reputation(r, {h: fixed(0.5) + rng.randrange(10**17) for h in participants})
    root, model = keccak(b"root %d" % r), keccak(b"model %d" % r)
    fed.record_round(r, root, model)
    fed.attest(r, root, model)
    seconds = time.perf_counter() - start
    if not fed.is_final(r):
        raise RuntimeError(f"round {r} did not finalize")
    return {"seconds": seconds, "vote_seconds": vote.seconds, "vote_txs": vote.transactions,
            "drawn": len(participants) + len(draw.removed)}  # fmt: skip


def run_one(n: int, mode: str, *, rounds: int, committee: int, tokens: int, trace: bool) -> dict[str, Any]:
    load_start = os.getloadavg()[0]
    hospitals = n + committee
    config = ChainConfig(accounts=2, timeout_s=60.0)
    with Chain.open(config) as chain:
        meter = ChainMeter(JsonRpc(chain.url), trace_storage=trace)
        plan = Plan(keccak(b"model definition"), keccak(b"hyperparameters"), fixed(1), fixed("1e-5"), 1000, n, committee)
        t0 = time.perf_counter()
        fed = deploy_federation(
            chain, hospitals=hospitals, validators=VALIDATORS, plan=plan,
            stakes=Stakes(proposer_stake=8, voter_stake=8, proposer_reward=2, voting_period=3600),
            reputation_params=ReputationParams(fixed(0.5), fixed(0.05), fixed(0.5), fixed(0.5), fixed(0.5), 3),
            initial_tokens=tokens, pool_tokens=10**9, meter=meter,
        )  # fmt: skip
        setup = {"total": time.perf_counter() - t0, **fed.setup_seconds}
        rng = random.Random(n)
        per_round = []
        for r in range(1, rounds + 1):
            info = _round(fed, r, mode, rng)
            totals = meter.totals(r)
            functions = {f"{row['contract']}.{row['function']}": [row["count"], row["gas"]] for row in meter.rows(r)}
            per_round.append({
                "round": r, "seconds": round(info["seconds"], 4), "txs": totals["count"], "gas": totals["gas"],
                "calldata_bytes": totals["calldata_bytes"], "log_bytes": totals["log_bytes"],
                "new_slots": totals["new_slots"], "freed_slots": totals["freed_slots"],
                "vote_txs": info["vote_txs"], "vote_seconds": round(info["vote_seconds"], 4),
                "vote_tx_per_s": round(info["vote_txs"] / info["vote_seconds"], 1) if info["vote_seconds"] else None,
                "functions": functions,
            })  # fmt: skip
        sustained = None
        if mode == "per_hospital":
            result = fed.withdraw(dict.fromkeys(range(hospitals), 1))
            sustained = {"txs": len(result.receipts), "seconds": round(result.seconds, 3),
                         "tx_per_s": round(len(result.receipts) / result.seconds, 1), "blocks": result.blocks}  # fmt: skip
    later = per_round[1:] or per_round

    def mean(key: str, rows: list[dict[str, Any]]) -> float:
        values = [row[key] for row in rows if row[key] is not None]
        return sum(values) / len(values) if values else float("nan")

    first = per_round[0]
    return {
        "n": n, "mode": mode, "committee": committee, "hospitals_registered": hospitals, "validators": VALIDATORS,
        "rounds": rounds,
        "round1": {k: first[k] for k in ("seconds", "txs", "gas", "calldata_bytes", "log_bytes", "new_slots")},
        "last": {k: per_round[-1][k] for k in ("seconds", "txs", "gas", "calldata_bytes", "log_bytes", "new_slots")},
        "later": {k: round(mean(k, later), 4) for k in ("seconds", "txs", "gas", "calldata_bytes", "log_bytes",
                                                          "new_slots", "freed_slots")},
        "later_per_hospital": {k: round(mean(k, later) / n, 2) for k in ("gas", "calldata_bytes", "log_bytes")},
        "vote_tx_per_s": round(mean("vote_tx_per_s", per_round), 1) if mode == "per_hospital" else None,
        "sustained": sustained,
        "setup_seconds": {k: round(v, 3) for k, v in setup.items()},
        "per_round": per_round,
        "load_start": load_start, "load_end": os.getloadavg()[0], "cpus": os.cpu_count(),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", default="10,100,1000,10000", help="cohort sizes, comma-separated")
    parser.add_argument("--modes", default=",".join(VOTE_MODES))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--committee", type=int, default=100)
    parser.add_argument("--tokens", type=int, default=10**6, help="each hospital's initial tokens")
    parser.add_argument("--no-trace", action="store_true", help="skip the storage-slot traces")
    args = parser.parse_args(argv)
    for n in [int(x) for x in args.n.split(",")]:
        for mode in args.modes.split(","):
            emit(run_one(n, mode, rounds=args.rounds, committee=args.committee, tokens=args.tokens,
                         trace=not args.no_trace))  # fmt: skip


if __name__ == "__main__":
    main()
