"""Shared pieces of the robustness benchmarks (``smpc_table2``, ``flock_table3``,
``asr_vs_fraction``, ``head_to_head``): methods as sweep cells, the attacks' settings, the
data options, the per-cell statistics and the one JSON line.

A benchmark compares *methods* (a defence, a preset, a row of a paper's table) that differ in
several config keys at once, which a sweep's Cartesian grid cannot express. Each method is
therefore one value of the grid key ``experiment.name`` (it also names the runs' directories),
and :func:`method_executor` builds each cell's config from the method's own TOML file and
overrides before running it through the ordinary executor (:func:`bflray.sweep.execute_here`
in this process, or Ray tasks from :mod:`actors.sweep` with ``--parallel``). A cell whose
config cannot be built becomes a row with its error, like a cell whose run failed, so the
table keeps it. ``benchmark.json`` in the sweep directory records every method's config and
overrides and the attacks' settings next to ``sweep.json``, then the JSON line itself.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from bflray.config import Config, load_config
from bflray.config.schema import DataConfig
from bflray.errors import BflrayError
from bflray.report.sweep import sweep_summary
from bflray.rundir import write_json
from bflray.sweep import Cell, execute_here, run_sweep

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
METHOD_KEY = "experiment.name"
ETA_KEY = "attack.malicious_fraction"
KIND_KEY = "attack.kind"
#: Datasets that need no file (MedMNIST names need ``--data-root``/NAME.npz).
OFFLINE_DATASETS = ("digits", "digits28", "synthetic")
MEDMNIST_DATASETS = tuple(d for d in get_args(DataConfig.model_fields["dataset"].annotation) if d not in OFFLINE_DATASETS)
#: In-process runs, no metrics endpoint: a benchmark's cells run one after another.
RUNTIME = ("runtime.backend=inprocess", "metrics.enabled=false")

#: What each benchmark's ASR column measures (bflray.evaluation.targeted_success); on a multi-label
#: set (ChestMNIST) "of a class" is "with that finding" and "predicted as" is "predicted present".
FLIP_ASR = ("share of test images of attack.source_class (multi-label: with the source finding and without the "
            "target one) predicted as attack.target_class (multi-label: the target finding predicted present)")
BACKDOOR_ASR = ("share of triggered test images without attack.target_class (multi-label: without the target "
                "finding) predicted as attack.target_class (multi-label: the target finding predicted present)")

Execute = Callable[[list[tuple[Config, Cell]], str], Iterable[dict[str, Any]]]


@dataclass(frozen=True)
class Method:
    """One compared method: the sweep cell's ``experiment.name``, a label for tables, the TOML file
    it starts from and its overrides (applied after the benchmark's common ones); ``kind_suffix``
    is an attack joined to every attacked cell's ``attack.kind`` (FLock's dishonest voters)."""

    name: str
    label: str
    config: Path
    overrides: tuple[str, ...] = ()
    kind_suffix: str = ""


@dataclass(frozen=True)
class AttackSettings:
    """The attacks' parameters, per attack (``poison_fraction`` and ``scale`` are shared keys in
    the config, so each attack gets its own value here when its cell is built)."""

    label_flip_poison_fraction: float = 1.0  # of the source class's samples
    backdoor_poison_fraction: float = 0.5  # of a malicious hospital's samples
    trigger_size: int = 3
    sign_flip_scale: float = 2.0
    source_class: int = 0
    target_class: int = 1

    def overrides(self, kind: str) -> list[str]:
        """The settings of the attacks named in ``kind`` (``+``-joined)."""
        parts = kind.split("+")
        out = [f"attack.source_class={self.source_class}", f"attack.target_class={self.target_class}"]
        if "targeted_label_flip" in parts or "label_flip" in parts:
            out.append(f"attack.poison_fraction={self.label_flip_poison_fraction}")
        if "backdoor" in parts:
            out += [f"attack.poison_fraction={self.backdoor_poison_fraction}", f"attack.trigger_size={self.trigger_size}"]
        if "sign_flip" in parts:
            out.append(f"attack.scale={self.sign_flip_scale}")
        return out


def literal(value: Any) -> str:
    """A value as an override's TOML literal."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str | list | tuple):
        return json.dumps(list(value) if isinstance(value, tuple) else value)
    return str(value)


# --- options -------------------------------------------------------------------------------------------------------


def add_common_options(parser: argparse.ArgumentParser, *, hospitals: int, rounds: int, seeds: str) -> None:
    """The options every robustness benchmark takes."""
    parser.add_argument("--dataset", default="digits",
                        help=f"digits (offline, default) or a MedMNIST name whose NAME.npz is in --data-root: "
                             f"{', '.join(MEDMNIST_DATASETS)}")  # fmt: skip
    parser.add_argument("--data-root", default=str(ROOT / "data"), help="folder of MedMNIST's NAME.npz files")
    parser.add_argument("--partition", default=None, choices=["iid", "dirichlet", "quantity"],
                        help="how data is split over hospitals (default: the benchmark's)")  # fmt: skip
    parser.add_argument("--alpha", type=float, default=None, help="Dirichlet concentration (dirichlet partition)")
    parser.add_argument("--hospitals", type=int, default=hospitals, help=f"hospitals (default {hospitals})")
    parser.add_argument("--rounds", type=int, default=rounds, help=f"rounds per run (default {rounds})")
    parser.add_argument("--seeds", default=seeds, help=f"seeds, comma-separated or a range a-b (default {seeds})")
    parser.add_argument("--out", default="runs", help="where the sweep directory goes (default runs/)")
    parser.add_argument("--parallel", type=int, default=1,
                        help="cells in flight: 1 runs them in this process; more runs them as Ray tasks "
                             "(timings are then shared between cells)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="a smoke version of about a minute")


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` or ``"0-4"`` → the seeds."""
    seeds: list[int] = []
    for part in text.split(","):
        first, sep, last = part.strip().partition("-")
        seeds += list(range(int(first), int(last) + 1)) if sep else [int(first)]
    if not seeds:
        raise SystemExit(f"--seeds {text!r}: no seed")
    return seeds


def parse_floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def parse_names(text: str, allowed: Sequence[str], option: str) -> list[str]:
    names = [x.strip() for x in text.split(",") if x.strip()]
    unknown = [n for n in names if n not in allowed]
    if unknown or not names:
        raise SystemExit(f"{option} {text!r}: unknown {unknown}; choose from {', '.join(allowed)}")
    return names


def data_overrides(args: argparse.Namespace, *, partition: str = "iid", alpha: float | None = None) -> list[str]:
    """The data section: digits offline, or a MedMNIST file that must be there (no silent fallback)."""
    out = [f"data.dataset={literal(args.dataset)}", f"data.partition={literal(args.partition or partition)}"]
    chosen_alpha = args.alpha if args.alpha is not None else alpha
    if chosen_alpha is not None:
        out.append(f"data.alpha={chosen_alpha}")
    if args.dataset in MEDMNIST_DATASETS:
        root = Path(args.data_root).resolve()
        if not (root / f"{args.dataset}.npz").is_file():
            raise SystemExit(f"--dataset {args.dataset}: {root / (args.dataset + '.npz')} is missing "
                             f"(put MedMNIST's file there, or pass --data-root)")  # fmt: skip
        out += ["data.source=\"medmnist\"", f"data.root={literal(str(root))}", "data.download=false"]
    elif args.dataset not in OFFLINE_DATASETS:
        raise SystemExit(f"--dataset {args.dataset!r}: choose digits or one of {', '.join(MEDMNIST_DATASETS)}")
    return out


def byzantine_bound(hospitals: int, fraction: float) -> int:
    """f for the Krum family and the trimming: ⌊fraction·N⌋, at most what n ≥ 2f + 3 allows."""
    return max(0, min(int(math.floor(fraction * hospitals + 1e-9)), (hospitals - 3) // 2))


def flock_voting(hospitals: int) -> list[str]:
    """FLock's 10 % proposers and the other 90 % voters (configs/flock.toml at K = 50), for N hospitals."""
    proposers = max(1, round(0.1 * hospitals))
    return [f"voting.proposers={proposers}", f"voting.committee_size={max(1, hospitals - proposers)}"]


# --- running -------------------------------------------------------------------------------------------------------


def build_config(method: Method, common: Sequence[str], cell: Cell, attack: AttackSettings) -> Config:
    """A cell's config: the method's TOML, the common overrides, the method's, the cell's (grid values
    and seed), then the attack's settings and the method's attack suffix."""
    overrides = [*common, *method.overrides, *cell.overrides()]
    config = load_config(method.config, overrides)
    kind = config.attack.kind
    extra = attack.overrides(kind)
    if method.kind_suffix and config.attack.malicious_fraction > 0 and method.kind_suffix not in kind.split("+"):
        extra.append(f"attack.kind={literal(kind + '+' + method.kind_suffix)}")
    return load_config(method.config, [*overrides, *extra])


def method_executor(methods: dict[str, Method], common: Sequence[str], attack: AttackSettings, inner: Execute) -> Execute:
    """An ``execute`` for :func:`bflray.sweep.run_sweep` that builds each cell's config from its method."""

    def execute(jobs: list[tuple[Config, Cell]], runs_dir: str) -> Iterator[dict[str, Any]]:
        ready: list[tuple[Config, Cell]] = []
        for _, cell in jobs:
            try:
                ready.append((build_config(methods[cell.values[METHOD_KEY]], common, cell, attack), cell))
            except (BflrayError, ValueError) as exc:  # a method the library refuses is a row, not a crash
                yield {"cell": cell.index, **cell.values, "seed": cell.seed,
                       "error": f"{type(exc).__name__}: {exc}".splitlines()[0][:500], "seconds": 0.0}  # fmt: skip
        yield from inner(ready, runs_dir)

    return execute


def with_progress(execute: Execute, desc: str) -> Execute:
    """``execute`` with a progress bar on stderr (one tick per run; failed runs counted apart)."""

    def run(jobs: list[tuple[Config, Cell]], runs_dir: str) -> Iterator[dict[str, Any]]:
        failed = 0
        with tqdm(total=len(jobs), desc=desc, unit="run", file=sys.stderr, dynamic_ncols=True) as bar:
            for row in execute(jobs, runs_dir):
                failed += bool(row.get("error"))
                bar.set_postfix_str(f"{row.get(METHOD_KEY)} failed={failed}", refresh=False)
                bar.update(1)
                yield row

    return run


def run_methods(
    name: str, methods: Sequence[Method], *, grid: dict[str, list[Any]], seeds: Sequence[int], common: Sequence[str],
    attack: AttackSettings, out: str, parallel: int = 1,
) -> Path:
    """Run every method × grid cell × seed as one sweep; returns the sweep directory."""
    by_name = {m.name: m for m in methods}
    full_grid = {METHOD_KEY: list(by_name), **grid}
    base = methods[0].config
    session: AbstractContextManager[Any] = nullcontext()
    inner: Execute = execute_here
    if parallel > 1:
        from actors.sweep import ray_executor, ray_session

        inner = ray_executor(parallel=parallel, cpus_per_cell=1.0)
        session = ray_session(load_config(base, list(common)))
    execute = with_progress(method_executor(by_name, common, attack, inner), name)
    with session:
        sweep_dir = run_sweep(str(base), grid=full_grid, seeds=seeds, overrides=list(common), out_dir=out,
                              execute=execute, name=name)  # fmt: skip
    write_json(sweep_dir / "benchmark.json", {
        "benchmark": name, "methods": [{**asdict(m), "config": str(m.config)} for m in methods],
        "common_overrides": list(common), "attack_settings": asdict(attack),
    })  # fmt: skip
    return sweep_dir


# --- reading the results -------------------------------------------------------------------------------------------


@dataclass
class SweepResults:
    """A sweep's rows and per-cell statistics (seeds pooled), keyed by the cell's grid values."""

    keys: list[str]
    rows: list[dict[str, Any]]
    cells: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, sweep_dir: Path) -> SweepResults:
        keys, summary = sweep_summary(sweep_dir)
        rows = pq.read_table(sweep_dir / "sweep.parquet").to_pylist()
        cells = {tuple(entry[k] for k in keys): entry for entry in summary}
        return cls(keys, rows, cells)

    def entry(self, **values: Any) -> dict[str, Any] | None:
        """The cell whose grid values match ``values`` (keys given with ``_`` for ``.``, see :func:`key`)."""
        wanted = {key(k): v for k, v in values.items()}
        for cell_values, entry in self.cells.items():
            if all(_same(dict(zip(self.keys, cell_values, strict=True)).get(k), v) for k, v in wanted.items()):
                return entry
        return None

    def members(self, **values: Any) -> list[dict[str, Any]]:
        """The rows (one per seed) of the cell matching ``values``."""
        wanted = {key(k): v for k, v in values.items()}
        return [r for r in self.rows if all(_same(r.get(k), v) for k, v in wanted.items())]

    def stat(self, metric: str, **values: Any) -> dict[str, Any] | None:
        """``{"mean", "std", "n"}`` of ``metric`` over the cell's seeds, with ``"error"`` when runs failed;
        ``None`` when the cell is not in the sweep or no run reported ``metric``."""
        entry = self.entry(**values)
        if entry is None:
            return None
        rows = self.members(**values)
        data = [float(r[metric]) for r in rows if not r.get("error") and _finite(r.get(metric))]
        errors = [r["error"] for r in rows if r.get("error")]
        return summarise(data, errors=errors) if data or errors else None


def key(name: str) -> str:
    """``attack_malicious_fraction`` → ``attack.malicious_fraction`` (keyword arguments cannot hold dots)."""
    section, _, rest = name.partition("_")
    return name if "." in name else f"{section}.{rest}"


def summarise(values: Sequence[float], *, errors: Sequence[str] = ()) -> dict[str, Any]:
    """Mean, population std (as the sweep's tables) and count; the distinct errors when some failed."""
    out: dict[str, Any] = {"mean": None, "std": None, "n": len(values)}
    if values:
        out["mean"], out["std"] = round(float(np.mean(values)), 4), round(float(np.std(values)), 4)
    if errors:
        out["failed"] = len(errors)
        out["error"] = "; ".join(dict.fromkeys(errors))
    return out


def relative_drop(attacked: Sequence[dict[str, Any]], clean: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The untargeted attack's success: (A_clean − A_attacked) / A_clean per seed (0 when accuracy
    did not drop), paired by seed; the share of the clean model's accuracy the attack destroyed."""
    reference = {r["seed"]: r["final_accuracy"] for r in clean if not r.get("error") and _finite(r.get("final_accuracy"))}
    values = [max(0.0, (reference[r["seed"]] - r["final_accuracy"]) / reference[r["seed"]])
              for r in attacked if not r.get("error") and r["seed"] in reference and reference[r["seed"]] > 0
              and _finite(r.get("final_accuracy"))]  # fmt: skip
    return summarise(values, errors=[r["error"] for r in [*attacked, *clean] if r.get("error")])


def mean_last_rounds(run_dir: str | Path, rounds: int, column: str = "accuracy") -> float:
    """Mean of ``column`` over a run's last ``rounds`` rounds (FLock reports the mean after convergence)."""
    values = pq.read_table(Path(run_dir) / "rounds.parquet", columns=[column]).column(column).to_pylist()
    tail = [float(v) for v in values[-rounds:] if _finite(v)]
    return float(np.mean(tail)) if tail else math.nan


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(float(a), float(b), abs_tol=1e-12)
    return bool(a == b)


def clean_json(value: Any) -> Any:
    """NaN and infinities → None, recursively (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    return value


def emit_record(record: dict[str, Any], sweep_dir: Path, started: float) -> dict[str, Any]:
    """Finish the record (sweep directory, seconds, load), add it to ``benchmark.json`` and print it as the one JSON line."""
    record = clean_json({**record, "sweep_dir": str(sweep_dir), "sweep_table": str(sweep_dir / "sweep.md"),
                         "seconds": round(time.perf_counter() - started, 1), "load": round(os.getloadavg()[0], 2),
                         "cpus": os.cpu_count()})  # fmt: skip
    info_path = sweep_dir / "benchmark.json"
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    write_json(info_path, {**info, "result": record})
    print(json.dumps(record, allow_nan=False), flush=True)
    return record
