"""``python -m training forget`` on one world (this folder's conftest): a customer erased from
SQLite, Redis, every parquet table (sources, raw tables, decisions, ground truth), the audit
log and other JSON-lines logs, with an erasure record that does not re-identify; other
customers untouched; a rerun changes nothing. Also: a consent withdrawal pushed through
Feast's push source turns the very next decision non-personalized (``no_consent``), and an
erased customer is served as unknown."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from modelio.audit_format import customer_hmac
from modelio.context import TurnContext
from modelio.store import open_store
from server.engine.factory import build_engine
from server.engine.types import DecisionRequest
from server.settings import Settings
from tests.support.erasure import (
    AUDIT_KEY,
    CUSTOMERS,
    World,
    online,
    parquet_files,
    rows_without,
    run_in_process,
)
from training.commands import forget
from training.data.validate import check_sources

pytestmark = pytest.mark.redis


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
