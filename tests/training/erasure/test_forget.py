"""``python -m training forget``: a customer erased from SQLite, Redis, every parquet table
(sources, raw tables, decisions, ground truth), the audit log and other JSON-lines logs,
with an erasure record that does not re-identify; other customers untouched. Also:
a consent withdrawal pushed through Feast's push source turns the very next decision
non-personalized (``no_consent``), and an erased customer is served as unknown."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from bench.prepare import copy_repo
from modelio.audit_format import AuditItem, audit_lines, customer_hmac
from modelio.context import TurnContext
from modelio.store import open_store
from modelio.vocab import FEATURE_SERVICE
from server.engine.factory import build_engine
from server.engine.types import DecisionRequest
from server.settings import Settings
from tests.support.feast import FeastFixture, apply, materialize
from tests.support.redis_server import RedisServer, start_redis
from tests.training.conftest import simulate_into
from training.commands import forget
from training.data.validate import check_sources

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[3]
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


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("forget")
    repo = copy_repo(root / "feature_repo")
    data = repo / "data"
    simulate_into(data, CUSTOMERS, seed=5)
    redis = start_redis(root)
    try:
        fixture = FeastFixture(repo, datetime.now(UTC).replace(microsecond=0), ())
        apply(repo)
        materialize(fixture, "sqlite")
        materialize(fixture, "redis", redis.address)  # applies the redis registry first
        chosen, consent = pick_customers(data)
        erased, kept = (chosen[0], chosen[1]), tuple(chosen[2:])
        everyone = [*erased, *kept, consent]
        before = {
            "sqlite": online(repo, "sqlite", None, everyone),
            "redis": online(repo, "redis", redis.address, everyone),
        }
        for store in before.values():
            for cid in everyone:  # every chosen customer is really served before
                assert any(v is not None for v in store[cid].values()), cid
        decisions = pd.read_parquet(data / "decisions.parquet")
        tickets = pd.read_parquet(data / "tickets.parquet")
        linked = set(decisions.loc[decisions["customer_id"].isin(erased), "decision_id"]) | set(
            tickets.loc[tickets["customer_id"].isin(erased), "ticket_id"]
        )
        rows_before = rows_without(data, set(erased), linked)
        write_logs(root / "logs", everyone)
        (root / "artifacts").mkdir()
        tickets.to_parquet(root / "artifacts" / "training_set.parquet", index=False)
        w = World(repo, data, root / "logs", redis, erased, kept, consent, before,
                  {"linked": linked}, rows_before, [])  # fmt: skip

        mp = pytest.MonkeyPatch()
        mp.setenv("PERSONALIZATION_AUDIT_HMAC_KEY", AUDIT_KEY)
        try:
            code, out = run_in_process(w.args(erased[0]))
        finally:
            mp.undo()
        assert code == 0, out
        w.outputs.append(out)
        code, out = run_subprocess(w.args(erased[1]))
        assert code == 0, out
        w.outputs.append(out)
        yield w
    finally:
        redis.stop()


def test_output_says_what_was_removed_where(world: World) -> None:
    first = world.outputs[0]
    for out, cid in zip(world.outputs, world.erased, strict=True):
        assert f"[1/1] {cid}" in out
        for place in ("sqlite online_store.db", "redis", "customer_profile.parquet",
                      "truth/customers.parquet", "truth/tickets.parquet", "audit.jsonl",
                      "decisions.jsonl"):  # fmt: skip
            assert place in out, (place, out)
        assert "erasure record: 1 line(s) appended" in out and "(keyed hash)" in out
        assert "verify: no file under the data folder or the logs holds an id" in out
        assert "forget: done" in out
    assert "customer_profile_fv 8" in first  # SQLite values per view


def test_online_stores_serve_nothing_for_erased_and_the_same_for_others(world: World) -> None:
    ids = [*world.erased, *world.kept]
    for kind, address in (("sqlite", None), ("redis", world.redis.address)):
        now = online(world.repo, kind, address, ids)
        for cid in world.erased:
            assert all(v is None for v in now[cid].values()), (kind, cid, now[cid])
        for cid in world.kept:
            assert now[cid] == world.before[kind][cid], (kind, cid)


def test_redis_keyspace_holds_no_erased_key(world: World) -> None:
    import redis as redis_py

    client = redis_py.Redis(host="127.0.0.1", port=world.redis.port)
    try:
        keys = list(client.scan_iter(count=1000))
        assert len(keys) >= CUSTOMERS - 2
        for cid in world.erased:
            assert not [k for k in keys if cid.encode() in k]
        for cid in world.kept:
            assert [k for k in keys if cid.encode() in k]
    finally:
        client.close()


def test_no_parquet_row_left_and_other_rows_untouched(world: World) -> None:
    linked = world.linked["linked"]
    assert linked, "the erased customers had tickets and decisions"
    for path in [*parquet_files(world.data), world.training_set]:
        table = pq.read_table(path)
        if "customer_id" in table.column_names:
            assert not set(world.erased) & set(table.column("customer_id").to_pylist()), path
        for column in ("ticket_id", "decision_id"):
            if column in table.column_names:
                assert not linked & set(table.column(column).to_pylist()), (path, column)
    assert rows_without(world.data, set(world.erased), linked) == world.rows_before
    kept = pd.read_parquet(world.data / "customer_profile.parquet")["customer_id"]
    assert set(world.kept) <= set(kept)
    check_sources(world.data)  # still valid feature sources (schemas, order, keys)


def test_no_file_holds_the_raw_id(world: World) -> None:
    files = [p for p in world.data.rglob("*") if p.is_file()]
    files += [p for p in world.logs.rglob("*") if p.is_file()] + [world.training_set]
    assert any(p.name == "online_store.db" for p in files)
    for path in files:
        raw = path.read_bytes()
        for cid in world.erased:
            assert cid.encode() not in raw, (path, cid)
    for cid in world.erased:  # hashed audit lines went too
        assert customer_hmac(cid, AUDIT_KEY).encode() not in world.audit_log.read_bytes()


def test_logs_keep_other_customers_lines(world: World) -> None:
    audit = [json.loads(line) for line in world.audit_log.read_text().splitlines()]
    plain = [r["customer_id"] for r in audit if "customer_id" in r]
    hashed = {r["customer_hmac"] for r in audit if "customer_hmac" in r}
    others = [*world.kept, world.consent]
    assert sorted(plain) == sorted(others * 2)
    assert hashed == {customer_hmac(cid, AUDIT_KEY) for cid in others}
    text = world.decision_log.read_text()
    for cid in others:
        assert text.count(cid) == 3


def test_erasure_record_has_keyed_hash_and_counts_but_no_id(world: World) -> None:
    path = world.data / "erasures.jsonl"
    raw = path.read_bytes()
    records = [json.loads(line) for line in raw.splitlines()][:2]
    for cid in world.erased:
        assert cid.encode() not in raw
    key_id = hashlib.sha256(AUDIT_KEY.encode()).hexdigest()[:8]
    for record, cid in zip(records, world.erased, strict=True):
        assert record["subject"] == "hmac-sha256:" + customer_hmac(cid, AUDIT_KEY)
        assert record["key_id"] == key_id and record["status"] == "complete"
        assert record["errors"] == [] and record["ts"].endswith("Z")
        removed = record["removed"]
        assert removed["online"]["redis"] == 1
        assert removed["online"]["sqlite online_store.db"] >= 8
        assert removed["offline"]["customer_profile.parquet"] >= 1
        assert removed["offline"]["truth/customers.parquet"] == 1
        assert removed["offline"]["decisions.parquet"] >= 1
        assert removed["logs"][str(world.audit_log)] == 3  # 2 plain + 1 hashed
        assert removed["logs"][str(world.decision_log)] == 3
        assert removed["offline"][str(world.training_set)] >= 1
        assert record["total"] == sum(sum(v.values()) for v in removed.values())


def test_forget_is_idempotent(world: World) -> None:
    digests = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in parquet_files(world.data)}
    audit = world.audit_log.read_bytes()
    code, out = run_in_process([*world.args(*world.erased), "--no-verify"])
    assert code == 0, out
    assert out.count("nothing found: already erased or never stored") == 2
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in digests} == digests
    assert world.audit_log.read_bytes() == audit


def test_bad_ids_and_unreachable_store_are_reported(world: World, tmp_path: Path) -> None:
    code, _ = run_in_process(["", "--repo", str(world.repo)])
    assert code == forget.EXIT_USAGE
    code, _ = run_in_process(["C1", "--repo", str(tmp_path / "typo")])
    assert code == forget.EXIT_USAGE
    # Redis down: the rest is still erased, the run says INCOMPLETE and exits 1.
    stray = tmp_path / "stray.jsonl"
    stray.write_text('{"customer_id": "NOBODY-1"}\n{"customer_id": "C9999999"}\n')
    argv = ["NOBODY-1", "--repo", str(world.repo), "--online-store", "redis",
            "--redis", "127.0.0.1:1", "--logs", str(stray), "--record",
            str(tmp_path / "record.jsonl")]  # fmt: skip
    code, out = run_in_process(argv)
    assert code == forget.EXIT_FAILED, out
    assert "FAILED online redis" in out and "forget: INCOMPLETE" in out
    assert stray.read_text() == '{"customer_id": "C9999999"}\n'
    record = json.loads((tmp_path / "record.jsonl").read_text())
    assert record["status"] == "incomplete" and record["errors"]


def _turn() -> TurnContext:
    return TurnContext(
        "web_chat", "desktop", "technical", 0.2, datetime.now(UTC), "Europe/Paris", "en-US"
    )


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_pushed_consent_withdrawal_applies_to_the_next_decision(
    world: World, model_dir: Path, kind: str
) -> None:
    """CRM pushes personalization_consent=False through customer_profile_push_source:
    the engine's next decision for that customer is non-personalized (no_consent)."""
    from feast.data_source import PushMode

    address = world.redis.address if kind == "redis" else None
    settings = Settings.model_validate({
        "feature_repo": world.repo, "models_dir": model_dir, "online_store": kind,
        "redis": address or "127.0.0.1:6379", "feature_budget_ms": 10_000.0,
    })  # fmt: skip
    engine = build_engine(settings)
    try:
        cid = world.consent
        first = engine.decide(DecisionRequest(cid, _turn(), "r-1"))
        assert first.personalized and first.not_personalized_reason == ""
        for erased in world.erased:
            gone = engine.decide(DecisionRequest(erased, _turn(), "r-2"))
            assert not gone.personalized and gone.not_personalized_reason == "unknown_customer"

        profile = pd.read_parquet(world.data / "customer_profile.parquet")
        row = profile[profile["customer_id"] == cid].sort_values("event_timestamp").tail(1).copy()
        now = pd.Timestamp.now(tz="UTC").floor("s")
        row["event_timestamp"] = now
        row["created_timestamp"] = now
        row["personalization_consent"] = False
        open_store(world.repo, kind, address).push(
            "customer_profile_push_source", row.reset_index(drop=True), to=PushMode.ONLINE
        )

        after = engine.decide(DecisionRequest(cid, _turn(), "r-3"))
        assert not after.personalized and after.not_personalized_reason == "no_consent"
        assert after.style.formality == ""  # no profile-based style without consent
    finally:
        engine.close()


def test_offline_erasure_streams_row_groups_and_keeps_the_rest(tmp_path: Path) -> None:
    """Unit level: many row groups, dictionary-encoded and null ids, linked ids, a file
    without matches left byte-for-byte alone."""
    import pyarrow as pa

    from training.erasure.offline import erase_offline

    ids = [f"K{i:05d}" if i % 50 else None for i in range(1000)]
    table = pa.table({
        "customer_id": pa.array(ids).dictionary_encode(),
        "ticket_id": [f"T{i}" for i in range(1000)],
        "value": list(range(1000)),
    })  # fmt: skip
    pq.write_table(table, tmp_path / "big.parquet", row_group_size=100, compression="snappy")
    pq.write_table(pa.table({"ticket_id": ["T7", "T8", "T999"]}), tmp_path / "linked.parquet")
    pq.write_table(pa.table({"customer_id": ["X"]}), tmp_path / "other.parquet")
    untouched = (tmp_path / "other.parquet").read_bytes()

    outcomes = {o.place: o for o in erase_offline(tmp_path, ["K00007", "K00999", "K12345"])}

    assert outcomes["big.parquet"].removed == {"K00007": 1, "K00999": 1}
    assert outcomes["linked.parquet"].removed == {"K00007": 1, "K00999": 1}
    assert outcomes["other.parquet"].removed == {}
    assert (tmp_path / "other.parquet").read_bytes() == untouched
    big = pq.ParquetFile(tmp_path / "big.parquet")
    assert big.metadata.num_row_groups == 10
    assert big.metadata.row_group(0).column(0).compression == "SNAPPY"
    assert big.schema_arrow == table.schema
    left = big.read().to_pydict()
    assert left["value"] == [v for v in range(1000) if v not in (7, 999)]
    assert left["customer_id"].count(None) == 20
    assert pq.read_table(tmp_path / "linked.parquet").column("ticket_id").to_pylist() == ["T8"]
    assert not list(tmp_path.glob(".*tmp"))


def test_forget_on_redis_cluster(tmp_path: Path) -> None:
    """The same Feast key, deleted through the cluster client (slot routing)."""
    from tests.support.cluster import SingleNodeCluster
    from tests.support.feast import build_feast_repo

    fixture = build_feast_repo(tmp_path / "repo", n=30)
    cluster = SingleNodeCluster(tmp_path / "cluster")
    try:
        materialize(fixture, "redis_cluster", cluster.address)
        gone, kept = fixture.known_ids[1], fixture.known_ids[2]
        before = online(fixture.repo, "redis_cluster", cluster.address, [gone, kept])
        assert any(v is not None for v in before[gone].values())
        argv = [gone, "--repo", str(fixture.repo), "--online-store", "redis_cluster",
                "--redis", cluster.address]  # fmt: skip
        code, out = run_in_process(argv)
        assert code == 0, out
        assert "online   redis_cluster: 1 key (views: customer_profile_fv" in out
        after = online(fixture.repo, "redis_cluster", cluster.address, [gone, kept])
        assert all(v is None for v in after[gone].values())
        assert after[kept] == before[kept]
    finally:
        cluster.stop()
