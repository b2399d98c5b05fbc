"""Attack success rate against the malicious share η for every defence: backdoor and targeted
label flip, η = 0, 0.1, 0.2, 0.3, 0.4 (the SMPC paper's Fig. 4 layout, over all of bflray's
defences). η = 0 is each defence's baseline (a clean model also sends some triggered images
to the target class).

All defences share the federation (``--hospitals``, IID digits by default) and, except PoR,
configs/fedavg.toml's training (an MLP of 32 hidden units, 2 local epochs of SGD at 0.1,
batch 16), so that only the defence differs:

- aggregation rules in the ``fedavg`` pipeline: ``fedavg``, ``median``, ``trimmed_mean``
  (β = f/N), ``krum`` and ``multi_krum`` (f), ``norm_bounding`` (M = ``--norm-bound``),
  ``centered_clipping`` (τ = ``--clipping-radius``), ``cosine_filter`` (threshold 0),
  ``geometric_median``; f = ⌊0.4·N⌋ capped by n ≥ 2f + 3 (3 for N = 10), fixed for every η
  since a defender does not know η;
- ``flock``: configs/flock.toml's stake-based voting (10 % proposers, the rest voting,
  reward and slash); malicious hospitals also vote dishonestly (``+dishonest_voting``);
- ``smpc``: configs/smpc.toml's pipeline (clipping, additive shares, cosine filter and
  multi-Krum on shares, reputation) with f as above;
- ``por``: configs/por.toml (MAE encoder, PoR head, EDI, validation, rank-weighted
  aggregation) with a small encoder (``mae.epochs = 5``, width 32) and 5 warm-up epochs, its
  own model and training. A cell that fails, or a pipeline that records no ASR, is an error
  cell in the JSON line (``error``), never dropped.

Writes the sweep directory (``sweep.md``) and ``asr_vs_fraction.png`` there (ASR against η,
one line per defence, one panel per attack; mean ± std over seeds). Prints one JSON line:
``table`` (per defence and attack, per η: ASR and accuracy, mean ± std), ``asr`` (the means
alone, a compact view) and ``sweep_dir``.

    python -m benchmarks.asr_vs_fraction [--seeds 0-2] [--rounds 8] [--hospitals 10] [--defences ...] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.robustness_common import (
    CONFIGS, ETA_KEY, KIND_KEY, METHOD_KEY, RUNTIME, AttackSettings, Method, SweepResults, add_common_options,
    byzantine_bound, data_overrides, emit_record, flock_voting, literal, parse_floats, parse_names, parse_seeds,
    run_methods,
)
from bflray.config import load_config

NAME = "asr_vs_fraction"
ATTACKS = ("backdoor", "targeted_label_flip")
RULES = ("fedavg", "median", "trimmed_mean", "multi_krum", "krum", "norm_bounding", "centered_clipping",
         "cosine_filter", "geometric_median")  # fmt: skip
DEFENCES = (*RULES, "flock", "smpc", "por")
FIGURE = "asr_vs_fraction.png"
#: PoR sized for a CPU benchmark: a small encoder, pre-trained briefly and cached by content hash.
POR_SMALL = ("mae.epochs=5", "mae.width=32", "mae.decoder_width=16", "training.warmup_epochs=5",
             "training.local_epochs=2")  # fmt: skip


def fedavg_training() -> tuple[str, ...]:
    """configs/fedavg.toml's model and training, as overrides for the other presets."""
    config = load_config(CONFIGS / "fedavg.toml")
    t, m = config.training, config.model
    return (f"model.name={literal(m.name)}", f"model.hidden={m.hidden}", f"training.local_epochs={t.local_epochs}",
            f"training.batch_size={t.batch_size}", f"training.learning_rate={t.learning_rate}",
            f"training.optimizer={literal(t.optimizer)}")  # fmt: skip


def methods(*, hospitals: int, max_eta: float, norm_bound: float, clipping_radius: float) -> list[Method]:
    fedavg, f = CONFIGS / "fedavg.toml", max(1, byzantine_bound(hospitals, max_eta))
    rules: dict[str, tuple[str, ...]] = {
        "fedavg": (),
        "median": (),
        "trimmed_mean": (f"aggregation.trim_fraction={min(f / hospitals, 0.49)}",),
        "multi_krum": (f"aggregation.num_byzantine={f}",),
        "krum": (f"aggregation.num_byzantine={f}",),
        "norm_bounding": (f"aggregation.norm_bound={norm_bound}",),
        "centered_clipping": (f"aggregation.clipping_radius={clipping_radius}",),
        "cosine_filter": ("aggregation.cosine_threshold=0.0",),
        "geometric_median": (),
    }
    out = [Method(rule, rule, fedavg, (f"aggregation.rule={literal(rule)}", *extra)) for rule, extra in rules.items()]
    training = fedavg_training()
    out += [
        Method("flock", "flock (stake-based voting)", CONFIGS / "flock.toml", (*training, *flock_voting(hospitals)),
               kind_suffix="dishonest_voting"),
        Method("smpc", "smpc (secure robust pipeline)", CONFIGS / "smpc.toml",
               (*training, f"aggregation.num_byzantine={f}")),
        Method("por", "por (PoR ranking)", CONFIGS / "por.toml", POR_SMALL),
    ]  # fmt: skip
    return out


def table(results: SweepResults, chosen: list[Method], attacks: list[str], fractions: list[float]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for method in chosen:
        out[method.name] = {}
        for attack in attacks:
            points = []
            for eta in fractions:
                cell = {"experiment_name": method.name, "attack_kind": attack, "attack_malicious_fraction": eta}
                point: dict[str, Any] = {"eta": eta, "asr": results.stat("asr", **cell),
                                         "accuracy": results.stat("final_accuracy", **cell)}  # fmt: skip
                errors = [r["error"] for r in results.members(**cell) if r.get("error")]
                if errors:
                    point["error"] = "; ".join(dict.fromkeys(errors))
                elif point["asr"] is None:
                    point["error"] = (f"no attack success rate recorded: the {method.name} pipeline's evaluate stage "
                                      "writes no attack_success_rate to rounds.parquet")  # fmt: skip
                points.append(point)
            out[method.name][attack] = points
    return out


def plot(tables: dict[str, Any], chosen: list[Method], attacks: list[str], path: Path) -> Path:
    """ASR against η, one panel per attack, one line per defence (mean, ± std as a band)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(attacks), figsize=(5.2 * len(attacks) + 2.2, 4.4), dpi=100, squeeze=False)
    styles = ("-", "--", ":", "-.")
    markers = ("o", "s", "^", "v", "D", "P", "X", "<", ">", "*", "h", "p")  # defences that coincide stay visible
    for ax, attack in zip(axes[0], attacks, strict=True):
        for i, method in enumerate(chosen):
            points = [p for p in tables[method.name][attack] if p["asr"] and p["asr"]["mean"] is not None]
            label = method.name if points else f"{method.name} (no ASR)"
            color, style = f"C{i % 10}", styles[(i // 10) % len(styles)]
            if not points:
                ax.plot([], [], color=color, linestyle=style, label=label)
                continue
            xs = [p["eta"] for p in points]
            ys = [p["asr"]["mean"] for p in points]
            sd = [p["asr"]["std"] or 0.0 for p in points]
            ax.plot(xs, ys, color=color, linestyle=style, marker=markers[i % len(markers)], markersize=4,
                    markerfacecolor="none", label=label)
            ax.fill_between(xs, [y - s for y, s in zip(ys, sd, strict=True)], [y + s for y, s in zip(ys, sd, strict=True)],
                            color=color, alpha=0.08, linewidth=0)  # fmt: skip
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("η (malicious share of hospitals)")
        ax.set_ylabel("attack success rate")
        ax.set_title(f"ASR against η: {attack}")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize="small", loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(parser, hospitals=10, rounds=8, seeds="0-2")
    parser.add_argument("--fractions", default="0,0.1,0.2,0.3,0.4", help="η values")
    parser.add_argument("--defences", default=",".join(DEFENCES), help=f"subset of {', '.join(DEFENCES)}")
    parser.add_argument("--attacks", default=",".join(ATTACKS), help=f"subset of {', '.join(ATTACKS)}")
    parser.add_argument("--norm-bound", type=float, default=1.0, help="norm_bounding's M (default 1.0)")
    parser.add_argument("--clipping-radius", type=float, default=1.0, help="centered_clipping's τ (default 1.0)")
    parser.add_argument("--backdoor-poison-fraction", type=float, default=0.5, help="share of samples triggered")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.fractions = "0", "0,0.3"
        if args.defences == ",".join(DEFENCES):
            args.defences = "fedavg,median,multi_krum,flock,smpc,por"
    started = time.perf_counter()
    fractions = sorted(set(parse_floats(args.fractions)))
    every = methods(hospitals=args.hospitals, max_eta=max(fractions), norm_bound=args.norm_bound,
                    clipping_radius=args.clipping_radius)  # fmt: skip
    names = parse_names(args.defences, [m.name for m in every], "--defences")
    chosen = [m for m in every if m.name in names]
    attacks = parse_names(args.attacks, list(ATTACKS), "--attacks")
    seeds = parse_seeds(args.seeds)
    common = [*RUNTIME, *data_overrides(args), f"federation.hospitals={args.hospitals}",
              f"experiment.rounds={args.rounds}"]  # fmt: skip
    settings = AttackSettings(backdoor_poison_fraction=args.backdoor_poison_fraction)
    sweep_dir = run_methods(NAME, chosen, grid={KIND_KEY: attacks, ETA_KEY: fractions}, seeds=seeds, common=common,
                            attack=settings, out=args.out, parallel=args.parallel)  # fmt: skip
    results = SweepResults.load(sweep_dir)
    tables = table(results, chosen, attacks, fractions)
    figure = plot(tables, chosen, attacks, sweep_dir / FIGURE)
    compact = {
        m.name: {a: [None if p["asr"] is None else p["asr"]["mean"] for p in tables[m.name][a]] for a in attacks}
        for m in chosen
    }
    errors = sorted({f"{m}/{a}: {p['error']}" for m, by in tables.items() for a, ps in by.items() for p in ps
                     if p.get("error")})  # fmt: skip
    record = {
        "benchmark": NAME, "dataset": args.dataset, "hospitals": args.hospitals, "rounds": args.rounds, "seeds": seeds,
        "fractions": fractions, "attacks": attacks, "attack_settings": settings.__dict__,
        "byzantine_bound_f": max(1, byzantine_bound(args.hospitals, max(fractions))),
        "defences": {m.name: {"config": m.config.name, "overrides": list(m.overrides), "kind_suffix": m.kind_suffix}
                     for m in chosen},
        "grid_keys": [METHOD_KEY, KIND_KEY, ETA_KEY], "asr": compact, "table": tables, "errors": errors,
        "figure": str(figure),
    }  # fmt: skip
    return emit_record(record, sweep_dir, started)


if __name__ == "__main__":
    main(sys.argv[1:])
