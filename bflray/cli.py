"""``bflray``: the command line, a thin layer over the Python API.

A user's mistake prints one line and exits with its class's status (config errors: 2);
a bug still shows its traceback.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from bflray import __version__
from bflray.errors import BackendError, BflrayError, ChainError, ConfigError, DataError, StoreError

EXIT_CODES: tuple[tuple[type[BflrayError], int], ...] = (
    (ConfigError, 2),
    (DataError, 3),
    (ChainError, 4),
    (BackendError, 5),
    (StoreError, 6),
    (BflrayError, 1),
)
DEFAULT_CONFIG = Path("configs/demo.toml")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bflray", description="Simulate blockchain-based federated learning between many hospitals."
    )
    parser.add_argument("--version", action="version", version=f"bflray {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run", help="run one experiment", description="Run one experiment into a new run directory, or, with "
        "--resume, continue an unfinished run from its last finalized round.",
    )
    _add_config_args(run)
    run.add_argument("--out", metavar="DIR", help="parent of the run directory (default: experiment.out_dir)")
    run.add_argument(
        "--resume", metavar="RUN_DIR", help="continue the unfinished run in RUN_DIR from its last checkpoint, with "
        "its own config.toml (no CONFIG, --set or --out); a finished run is refused",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar or log lines; print only the run directory")
    run.add_argument(
        "--log-format", choices=("text", "json"), default="text",
        help="console log lines as text or as one JSON object per line (default: text)",
    )
    run.set_defaults(handler=_cmd_run)

    sweep = sub.add_parser(
        "sweep", help="run an experiment over a grid of settings and seeds", description="Run CONFIG once per "
        "cell of a grid (the product of the --grid items) and seed, as Ray tasks, into one sweep directory: a run "
        "directory per cell, sweep.parquet (a row per run), sweep.md (mean ± std over seeds) and, for a numeric "
        "grid key, latency_by_stage.png and storage.png.",
    )
    _add_config_args(sweep)
    sweep.add_argument(
        "--grid", action="append", default=[], metavar="SECTION.KEY=V1,V2", help="a grid axis (repeatable)"
    )
    sweep.add_argument("--seeds", default="0", metavar="S1,S2", help="experiment seeds per cell (default: 0)")
    sweep.add_argument("--out", metavar="DIR", help="parent of the sweep directory (default: experiment.out_dir)")
    sweep.add_argument(
        "--parallel", type=int, default=1, metavar="N",
        help="cells in flight at once (default: 1, so cells are timed alone; raise it for robustness grids)",
    )
    sweep.add_argument(
        "--cpus-per-cell", type=float, default=None, metavar="C", help="CPUs a cell's driver task asks for (default: "
        "0 when the runs use the Ray backend, whose shards ask for their own; else 1)",
    )
    sweep.add_argument("--no-ray", action="store_true", help="run the cells one after another in this process")
    sweep.set_defaults(handler=_cmd_sweep)

    report = sub.add_parser(
        "report", help="figures and an HTML summary of runs", description="Draw a run's figures (accuracy and "
        "attack success, latency by stage, storage growth, gas, tokens and survival) and write one self-contained "
        "HTML summary; with --compare, overlay several runs.",
    )
    report.add_argument("runs", nargs="+", metavar="RUN_DIR", help="a run directory (several with --compare)")
    report.add_argument("--compare", action="store_true", help="overlay several runs in one report")
    report.add_argument(
        "--out", metavar="DIR", help="folder for the report (default: RUN_DIR/report, or compare/ beside the first run)"
    )
    report.set_defaults(handler=_cmd_report)

    evaluate = sub.add_parser(
        "evaluate", help="score a run's final model", description="Score a finished run's final global model "
        "(model.npz) on one of its splits; prints one JSON object.",
    )
    evaluate.add_argument("run_dir", metavar="RUN_DIR", help="a finished run directory")
    evaluate.add_argument("--split", choices=("test", "val", "train"), default="test", help="default: test")
    evaluate.set_defaults(handler=_cmd_evaluate)

    config = sub.add_parser("config", help="print the resolved config", description="Validate a config and print it resolved.")
    _add_config_args(config)
    config.set_defaults(handler=_cmd_config)

    chain = sub.add_parser("chain", help="chain tools", description="Chain tools.")
    chain_sub = chain.add_subparsers(dest="chain_command", required=True, metavar="COMMAND")
    up = chain_sub.add_parser(
        "up", help="start anvil and deploy the contracts", description="Start anvil, deploy the contracts, "
        "print the RPC URL and contract addresses, and stay up until Ctrl-C.",
    )
    _add_config_args(up)
    up.set_defaults(handler=_cmd_chain_up)

    data = sub.add_parser("data", help="data tools", description="Data tools.")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")
    fixture = data_sub.add_parser(
        "fixture", help="write a small file in MedMNIST's .npz layout", description="Write a small synthetic "
        "file in MedMNIST's exact .npz layout (ROOT/NAME.npz, 28x28) that the medmnist dataset classes read.",
    )
    fixture.add_argument("name", metavar="NAME", help="a 2D MedMNIST set, e.g. pathmnist, chestmnist, pneumoniamnist")
    fixture.add_argument("--n", type=int, required=True, metavar="N", help="training samples (val and test: N//4 each)")
    fixture.add_argument("--root", default="data", metavar="DIR", help="folder to write into (default: data)")
    fixture.add_argument("--seed", type=int, default=0, metavar="S", help="seed of images and labels (default: 0)")
    fixture.add_argument("--force", action="store_true", help="replace an existing file")
    fixture.set_defaults(handler=_cmd_data_fixture)
    return parser


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="?", metavar="CONFIG", help=f"experiment TOML file (default: {DEFAULT_CONFIG})")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="override a config key; VALUE is read as a TOML literal (repeatable)",
    )


def _load(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from bflray.config import load_config

    path = args.config
    if path is None and DEFAULT_CONFIG.exists():
        path = DEFAULT_CONFIG
    return load_config(path, args.overrides)


def _cmd_run(args: argparse.Namespace) -> int:
    if args.resume is not None:
        return _cmd_resume(args)
    config = _load(args)
    if config.runtime.backend == "ray":
        import actors  # noqa: F401  (registers the Ray backend)
    from bflray.api import run

    _console_logging(quiet=args.quiet, json_lines=args.log_format == "json")
    result = run(config, out_dir=args.out, progress=not args.quiet)
    print(f"run directory: {result.run_dir}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from bflray.sweep import execute_here, parse_grid, run_sweep

    base = _load(args)  # the config alone must be valid before any cell is planned
    path = args.config if args.config is not None else (str(DEFAULT_CONFIG) if DEFAULT_CONFIG.exists() else None)
    if not args.grid:
        raise ConfigError("bflray sweep needs at least one --grid SECTION.KEY=V1,V2")
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        raise ConfigError(f"--seeds {args.seeds!r}: expected integers separated by commas, e.g. 0,1,2") from None
    if args.parallel < 1:
        raise ConfigError(f"--parallel {args.parallel}: must be at least 1")
    _console_logging(quiet=False, json_lines=False)
    from contextlib import AbstractContextManager, nullcontext

    session: AbstractContextManager[object]
    if args.no_ray:
        if base.runtime.backend == "ray":
            import actors  # noqa: F401  (registers the Ray backend)
        execute, session = execute_here, nullcontext()
    else:
        from actors.sweep import ray_executor, ray_session

        cpus = args.cpus_per_cell if args.cpus_per_cell is not None else (0.0 if base.runtime.backend == "ray" else 1.0)
        execute, session = ray_executor(parallel=args.parallel, cpus_per_cell=cpus), ray_session(base)
    with session:
        sweep_dir = run_sweep(
            path, grid=parse_grid(args.grid), seeds=seeds, overrides=args.overrides,
            out_dir=args.out or base.experiment.out_dir, execute=execute, name=base.experiment.name,
        )
    print(f"sweep directory: {sweep_dir}")
    return 0


def _cmd_resume(args: argparse.Namespace) -> int:
    from bflray.resume import inspect_run

    extra = [name for name, given in (("CONFIG", args.config), ("--set", args.overrides), ("--out", args.out)) if given]
    if extra:
        raise ConfigError(f"--resume continues the run with its own config.toml: drop {', '.join(extra)}")
    config, _ = inspect_run(args.resume)  # refuses a finished run before Ray starts
    if config.runtime.backend == "ray":
        import actors  # noqa: F401  (registers the Ray backend)
    from bflray.api import resume

    _console_logging(quiet=args.quiet, json_lines=args.log_format == "json")
    result = resume(args.resume, progress=not args.quiet)
    print(f"run directory: {result.run_dir}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from bflray.errors import ConfigError
    from bflray.report import build_report

    if len(args.runs) > 1 and not args.compare:
        raise ConfigError(f"{len(args.runs)} run directories given: add --compare to overlay them")
    path = build_report(args.runs, args.out)
    print(f"report: {path}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from bflray.report import evaluate_run

    print(json.dumps(evaluate_run(args.run_dir, args.split), sort_keys=True))
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    from bflray.config import dump_config

    sys.stdout.write(dump_config(_load(args)))
    return 0


def _cmd_chain_up(args: argparse.Namespace) -> int:
    from bflray.chain import Chain

    config = _load(args)
    stop = threading.Event()
    # Both set explicitly: a process started in the background by a non-interactive shell
    # inherits SIGINT as ignored, and Python then never raises KeyboardInterrupt.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with Chain.open(config.chain) as chain:
        print(f"rpc url: {chain.url}")
        for name, address in chain.addresses.items():
            print(f"{name}: {address}")
        print("chain is up; Ctrl-C stops it", flush=True)
        while not stop.wait(0.5):
            pass
    return 0


def _cmd_data_fixture(args: argparse.Namespace) -> int:
    from bflray.data import write_fixture

    path = write_fixture(args.name, args.n, root=args.root, seed=args.seed, overwrite=args.force)
    print(f"wrote {path}")
    return 0


def _console_logging(*, quiet: bool, json_lines: bool = False) -> None:
    handler = _ProgressAwareHandler()
    handler.setFormatter(_JsonFormatter() if json_lines else logging.Formatter("%(message)s"))
    handler.setLevel(logging.WARNING if quiet else logging.INFO)
    logging.getLogger("bflray").addHandler(handler)


class _JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message (and exception)."""

    def format(self, record: logging.LogRecord) -> str:
        import json
        from datetime import UTC, datetime

        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _ProgressAwareHandler(logging.Handler):
    """Writes log lines to stderr around an active progress bar instead of through it."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # a logging handler must never raise into the caller
            self.handleError(record)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print("bflray: interrupted", file=sys.stderr)
        return 130
    except BflrayError as exc:
        code = next(code for cls, code in EXIT_CODES if isinstance(exc, cls))
        print(f"bflray: error: {exc}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
