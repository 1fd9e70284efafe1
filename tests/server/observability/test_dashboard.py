"""The Grafana dashboard (deploy/grafana) asks only for series the server exports: every
metric of every PromQL expression, and the labels it matches or groups by, are in the
exposition after decisions (good, refused and degraded ones) with the decision log on."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import grpc
import pytest
from prometheus_client import REGISTRY, generate_latest

from server.logs.setup import build_record_log
from server.settings import Settings
from tests.support.engines import ScriptedReader
from tests.support.experiment_engines import CUSTOMERS, rows
from tests.support.observability import experiment_engine, live_server, parse
from tests.support.servers import make_request

DASHBOARD = Path(__file__).resolve().parents[3] / "deploy" / "grafana" / "personalization.json"
METRIC = re.compile(r"\b(personalization_[a-z0-9_]+)(\{[^}]*\})?")
MATCHER = re.compile(r"([a-z_]+)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|ignoring)\s*\(([^)]*)\)")


def expressions(node: Any) -> list[str]:
    """Every ``expr`` of the dashboard's panels (rows' panels too)."""
    if isinstance(node, dict):
        found = [node["expr"]] if isinstance(node.get("expr"), str) else []
        return found + [e for value in node.values() for e in expressions(value)]
    if isinstance(node, list):
        return [e for item in node for e in expressions(item)]
    return []


def test_every_dashboard_series_is_exported(models: Path, tmp_path: Path) -> None:
    scripted = ScriptedReader(rows())
    log = build_record_log(Settings(decision_log="file", decision_log_dir=tmp_path / "log"))
    engine = experiment_engine(models, tmp_path, scripted, log)
    with live_server(engine) as live:
        for cid in CUSTOMERS[:6]:
            live.stub.Decide(make_request(cid), timeout=10)
        with pytest.raises(grpc.RpcError):  # INVALID_ARGUMENT
            live.stub.Decide(make_request(time_zone="Mars/Olympus_Mons"), timeout=10)
        scripted.error = "feature_store_unavailable"  # degraded answers, the breaker opens
        for _ in range(4):
            live.stub.Decide(make_request(CUSTOMERS[0]), timeout=10)
    # After the shutdown the engine closed its log: every row is written and counted.
    samples = parse(generate_latest(REGISTRY).decode())
    labels: dict[str, set[str]] = {}
    for name, pairs in samples:
        labels.setdefault(name, set()).update(k for k, _ in pairs)

    exprs = expressions(json.loads(DASHBOARD.read_text()))
    assert len(exprs) >= 20
    for expr in exprs:
        used = METRIC.findall(expr)
        assert used, expr
        for name, matchers in used:
            assert name in labels, f"{name} (in {expr!r}) is not exported"
            for label in MATCHER.findall(matchers):
                assert label in labels[name], f"{name} has no label {label!r}"
        grouped = {g.strip() for group in GROUPING.findall(expr) for g in group.split(",")}
        known = set().union(*(labels[name] for name, _ in used))
        assert grouped - {""} <= known, (expr, grouped - known)
