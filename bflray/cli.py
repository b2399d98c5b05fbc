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

    run = sub.add_parser("run", help="run one experiment", description="Run one experiment into a new run directory.")
    _add_config_args(run)
    run.add_argument("--out", metavar="DIR", help="parent of the run directory (default: experiment.out_dir)")
    run.add_argument("--quiet", action="store_true", help="no progress bar or log lines; print only the run directory")
    run.add_argument(
        "--log-format", choices=("text", "json"), default="text",
        help="console log lines as text or as one JSON object per line (default: text)",
    )
    run.set_defaults(handler=_cmd_run)

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
    config = _load(args)
    if config.runtime.backend == "ray":
        import actors  # noqa: F401  (registers the Ray backend)
    from bflray.api import run

    _console_logging(quiet=args.quiet, json_lines=args.log_format == "json")
    result = run(config, out_dir=args.out, progress=not args.quiet)
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
