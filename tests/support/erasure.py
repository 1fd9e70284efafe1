"""Helpers for ``python -m training forget`` tests: the world a run erases from (a simulated
repo in SQLite and Redis, logs, an exported training set), Feast's own online read, parquet
row counts, and forget run in process or as a subprocess."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from modelio.audit_format import AuditItem, audit_lines
from modelio.store import open_store
from modelio.vocab import FEATURE_SERVICE
from tests.support.redis_server import RedisServer
from training.commands import forget

ROOT = Path(__file__).resolve().parents[2]


CUSTOMERS = 120


AUDIT_KEY = "audit-key-for-forget-tests-0123456789"


RPC = "/personalization.v1.PersonalizationService/Decide"


@dataclass
class World:
    repo: Path
    data: Path
    logs: Path
    redis: RedisServer
    erased: tuple[str, str]  # (erased in process, erased by the subprocess)
    kept: tuple[str, ...]  # customers with values in every view, never erased
    consent: str  # not erased either; the push test withdraws its consent
    before: dict[str, dict[str, dict[str, Any]]]  # store -> customer -> features
    linked: dict[str, set[str]]  # ticket/decision ids of the erased customers
    rows_before: dict[str, int]  # parquet file -> rows of customers not erased
    outputs: list[str]

    @property
    def audit_log(self) -> Path:
        return self.logs / "audit.jsonl"

    @property
    def decision_log(self) -> Path:
        return self.logs / "decisions.jsonl"

    @property
    def training_set(self) -> Path:  # an exported training set, outside the data folder
        return self.logs.parent / "artifacts" / "training_set.parquet"

    def args(self, *ids: str) -> list[str]:
        return [
            *ids,
            "--repo", str(self.repo),
            "--online-store", "sqlite",
            "--online-store", "redis",
            "--redis", self.redis.address,
            "--audit-log", str(self.audit_log),
            "--logs", str(self.decision_log),
            "--extra-parquet", str(self.training_set.parent),
        ]  # fmt: skip


def online(repo: Path, kind: str, redis: str | None, ids: list[str]) -> dict[str, dict]:
    """Feast's own read: customer -> {feature: value} (join key dropped)."""
    store = open_store(repo, kind, redis)
    frame = store.get_online_features(
        features=store.get_feature_service(FEATURE_SERVICE),
        entity_rows=[{"customer_id": cid} for cid in ids],
    ).to_dict()
    return {
        cid: {k: v[i] for k, v in frame.items() if k != "customer_id"} for i, cid in enumerate(ids)
    }


def parquet_files(data: Path) -> list[Path]:
    return sorted(data.rglob("*.parquet"))


def rows_without(data: Path, ids: set[str], linked: set[str]) -> dict[str, int]:
    """Rows per file that do not belong to ``ids`` (directly or via a linked id)."""
    out = {}
    for path in parquet_files(data):
        table = pq.read_table(path).to_pandas()
        keep = pd.Series(True, index=table.index)
        if "customer_id" in table:
            keep &= ~table["customer_id"].isin(ids)
        for column in ("ticket_id", "decision_id"):
            if column in table:
                keep &= ~table[column].isin(linked)
        out[path.relative_to(data).as_posix()] = int(keep.sum())
    return out


def pick_customers(data: Path) -> tuple[list[str], str]:
    """Customers in every view, some with decisions; one with consent for the push test."""
    profile = pd.read_parquet(data / "customer_profile.parquet")
    latest = profile.sort_values("event_timestamp").groupby("customer_id").tail(1)
    consenting = set(latest.loc[latest["personalization_consent"], "customer_id"])
    support = set(pd.read_parquet(data / "support_history.parquet")["customer_id"])
    decided = set(pd.read_parquet(data / "decisions.parquet")["customer_id"])
    rich = sorted(consenting & support & decided)
    assert len(rich) >= 6, "the simulation should give several customers with decisions"
    return rich[:5], rich[5]


def write_logs(logs: Path, ids: list[str]) -> None:
    logs.mkdir()
    plain = audit_lines(
        rpc=RPC,
        principal="chatbot",
        items=[AuditItem(cid, f"req-{i}", f"d-{i}") for i, cid in enumerate(ids)],
        status="OK",
        hmac_key=None,
    )
    hashed = audit_lines(
        rpc=RPC,
        principal="chatbot",
        items=[AuditItem(cid, f"req-h{i}", f"dh-{i}") for i, cid in enumerate(ids)],
        status="OK",
        hmac_key=AUDIT_KEY,
    )
    (logs / "audit.jsonl").write_bytes(plain + hashed + plain)
    lines = []
    for i, cid in enumerate(ids):
        lines.append(json.dumps({"decision_id": f"x{i}", "customer": {"id": cid}, "n": i}))
        lines.append(json.dumps({"event": "outcome", "tags": ["vip", f"{cid}:resolved"]}))
        lines.append(f"free text mentioning {cid} in a torn line {{")
    (logs / "decisions.jsonl").write_text("\n".join(lines) + "\n")


def run_in_process(argv: list[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    forget.configure(parser)
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = forget.run(parser.parse_args(argv))
    return code, buffer.getvalue()


def run_subprocess(argv: list[str]) -> tuple[int, str]:
    env = {**os.environ, "PERSONALIZATION_AUDIT_HMAC_KEY": AUDIT_KEY, "FEAST_USAGE": "False"}
    done = subprocess.run(
        [sys.executable, "-m", "training", "forget", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr
