"""The Grafana dashboard is a valid dashboard whose queries name only metrics bflray serves
(or Ray's own, ``ray_*``), and the provisioning files load it from the shipped datasource."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from bflray.metrics import RunMetrics
from tests.metrics.test_run_metrics import FLOCK_RECORD

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "cluster" / "grafana"
DASHBOARD = GRAFANA / "bflray.json"

# PromQL words that are neither metric nor label names.
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset",
    "inf", "nan",
}
# `$__rate_interval` and friends are Grafana variables, removed before parsing.
_VARIABLE = re.compile(r"\$\{?\w+\}?")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects: identifiers that are not functions, keywords
    or label names (label matchers, ranges and grouping clauses are stripped first)."""
    text = _VARIABLE.sub("x", expr)
    text = _STRING.sub('""', text)
    text = _MATCHERS.sub("", text)
    text = _RANGE.sub("", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _IDENT.finditer(text):
        word = match.group()
        rest = text[match.end():].lstrip()
        if rest.startswith("(") or word.lower() in PROMQL_WORDS or word[0].isdigit():
            continue
        names.add(word)
    return names


def served_metric_names() -> set[str]:
    """Every sample name a live registry serves after a full round, histogram suffixes included."""
    m = RunMetrics()
    m.observe_run(hospitals=50, actors={"hospital_block": 2})
    m.stage_seconds.labels(stage="train").observe(0.5)
    m.observe_transaction(SimpleNamespace(  # type: ignore[arg-type]
        contract="FederationLedger", function="recordRound", receipt=SimpleNamespace(gas_used=1), seconds=0.01))
    m.observe_chain_rows([{"new_slots": 1, "freed_slots": 0}], round_=1)
    m.observe_round(FLOCK_RECORD)
    return {s.name for family in m.registry.collect() for s in family.samples}


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out += panel.get("panels", [])  # a collapsed row holds its panels
    return out


def test_metric_names_parser_finds_selected_metrics_only() -> None:
    expr = ('histogram_quantile(0.95, sum by (run, le) (rate(a_bucket{run=~"$run", x="y(z)"}[$__rate_interval])))'
            ' / on (run) group_left sum by (run) (b) or vector(0)')
    assert metric_names(expr) == {"a_bucket", "b"}


def test_dashboard_has_the_fields_grafana_needs_and_unique_panel_ids() -> None:
    dash = json.loads(DASHBOARD.read_text())

    for key in ("uid", "title", "panels", "schemaVersion", "templating", "time"):
        assert key in dash, key
    ids = [p["id"] for p in panels(dash)]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids)
    for panel in panels(dash):
        assert panel["type"] and panel["title"], panel
        grid = panel["gridPos"]
        assert {"h", "w", "x", "y"} <= grid.keys() and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"]), panel["title"]
        assert all(t["expr"].strip() for t in panel["targets"]), panel["title"]
    titles = " ".join(p["title"].lower() for p in panels(dash))
    for topic in ("stage", "storage against round", "storage against n", "gas", "accuracy", "attack", "tokens",
                  "privacy"):
        assert topic in titles, topic


def test_every_datasource_reference_is_the_provisioned_prometheus() -> None:
    provisioned = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uids = {d["uid"] for d in provisioned["datasources"] if d["type"] == "prometheus"}
    dash = json.loads(DASHBOARD.read_text())

    refs = [p["datasource"] for p in panels(dash) if p["type"] != "row"]
    refs += [t["datasource"] for p in panels(dash) for t in p.get("targets", []) if "datasource" in t]
    refs += [v["datasource"] for v in dash["templating"]["list"] if "datasource" in v]

    assert refs and all(r == {"type": "prometheus", "uid": next(iter(uids))} for r in refs), refs
    assert len(uids) == 1


def test_dashboard_provisioning_loads_the_dashboard_folder() -> None:
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "bflray.yml").read_text())["providers"][0]

    assert provider["type"] == "file" and provider["options"]["path"]


def test_every_metric_the_dashboard_queries_is_one_the_exporter_serves() -> None:
    dash = json.loads(DASHBOARD.read_text())
    served = served_metric_names()
    queried = {name for p in panels(dash) for t in p.get("targets", []) for name in metric_names(t["expr"])}
    for variable in dash["templating"]["list"]:
        queried |= {n for n in metric_names(variable["definition"].replace("label_values", "")) if n != "run"}

    ours = {n for n in queried if not n.startswith("ray_")}
    assert ours, "the dashboard queries no bflray metric"
    assert ours <= served, sorted(ours - served)
    assert all(n.startswith(("bflray_", "ray_")) for n in queried), sorted(queried)
