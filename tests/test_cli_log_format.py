"""``bflray run --log-format json``: one JSON object per console log line."""

from __future__ import annotations

import json
import logging

from bflray.cli import _JsonFormatter, build_parser


def test_json_log_lines_carry_time_level_logger_and_message() -> None:
    record = logging.LogRecord("bflray", logging.WARNING, __file__, 1, "round %d slow", (3,), None)

    entry = json.loads(_JsonFormatter().format(record))

    assert entry["level"] == "warning" and entry["logger"] == "bflray" and entry["message"] == "round 3 slow"
    assert entry["time"].endswith("+00:00")


def test_run_accepts_log_format_json() -> None:
    assert build_parser().parse_args(["run", "--log-format", "json"]).log_format == "json"
