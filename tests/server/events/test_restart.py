"""A consumer process SIGKILLed mid-stream and another started: no event lost, none
applied twice (the aggregates are compared with the sums of what was published)."""

from __future__ import annotations

import signal
import urllib.request
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from bench.procs import free_port
from modelio.events import encode_event
from server.events.publish import publish_raw
from tests.server.events.conftest import World
from tests.support.events import consumer_env, group_done, make_event, start_consumer, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[3]
EVENTS, BAD_EVERY = 3000, 100
# Customers with a live engagement row (tests.support.feast: i % 3 != 0, i % 5 != 4).
CUSTOMERS = [f"C{i:07d}" for i in range(1, 200) if i % 3 and i % 5 != 4][:40]


def _group(world: World, stream: str) -> dict:
    groups = world.client.xinfo_groups(stream)
    return groups[0] if groups else {"entries-read": 0, "lag": None, "pending": 0}


def _metric(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def test_killed_consumer_loses_nothing_and_applies_nothing_twice(
    world: World, tmp_path: Path
) -> None:
    settings = world.settings()
    stream = settings.events_stream
    before = {cid: world.features(cid) for cid in CUSTOMERS}
    start = datetime.now(UTC) - timedelta(seconds=EVENTS / 1000 + 5)
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    payloads, bad = [], 0
    for i in range(EVENTS):
        if i % BAD_EVERY == 0:
            payloads.append(encode_event(make_event("csat_survey", f"NOBODY-{i}")))
            bad += 1
            continue
        cid = CUSTOMERS[i % len(CUSTOMERS)]
        event = make_event(
            "activity",
            cid,
            occurred_at=start + timedelta(milliseconds=i),
            new_session=i % 3 == 0,
            page_views=i % 7,
            minutes=(i % 9) / 4,
        )
        payloads.append(encode_event(event))
        total = sums[cid]
        total[0] += i % 3 == 0
        total[1] += i % 7
        total[2] += (i % 9) / 4
    publish_raw(world.client, stream, payloads)

    common = {"events_batch_size": 20, "events_claim_idle_ms": 800, "events_offline_flush_s": 0.3}
    env = consumer_env(world.repo, world.redis.address, events_consumer="a", **common)
    first = start_consumer(env, ROOT, tmp_path / "a.log")
    try:
        wait_until(lambda: (_group(world, stream)["entries-read"] or 0) >= 400, timeout=30)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    at_kill = _group(world, stream)
    assert at_kill["lag"] > 0, "the consumer finished before it was killed"
    assert at_kill["pending"] > 0

    port = free_port()
    env = consumer_env(
        world.repo, world.redis.address, events_consumer="b", events_metrics_port=port, **common
    )
    second = start_consumer(env, ROOT, tmp_path / "b.log")
    try:
        try:
            wait_until(lambda: group_done(world.client, stream, settings.events_group), 60)
        except AssertionError:
            raise AssertionError((tmp_path / "b.log").read_text()[-3000:]) from None
        duplicates = _metric(port, "personalization_events_duplicate_total")
        claimed = _metric(port, "personalization_events_claimed_total")
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(15) == 0, (tmp_path / "b.log").read_text()

    valid = EVENTS - bad
    for cid in CUSTOMERS:
        after, old, (sessions, pages, minutes) = world.features(cid), before[cid], sums[cid]
        assert after["sessions_28d"] == old["sessions_28d"] + sessions, cid
        assert after["page_views_28d"] == old["page_views_28d"] + pages, cid
        assert after["minutes_28d"] == old["minutes_28d"] + minutes, cid
    markers = list(world.client.scan_iter(match=f"{stream}:applied:*", count=1000))
    assert len(markers) == valid
    letters = world.client.xrange(settings.events_dead_letter_stream)
    assert len({fields[b"entry_id"] for _, fields in letters}) == bad  # at least once each
    frame = pd.read_parquet(world.repo / "data" / "engagement.parquet")
    new = frame[frame["event_timestamp"] >= pd.Timestamp(start)]
    assert len(new.drop_duplicates(["customer_id", "event_timestamp"])) == valid
    # The killed consumer's applied but unacknowledged entries came back as duplicates.
    assert claimed > 0 and duplicates > 0
    print(
        f"killed after {at_kill['entries-read']} read, {at_kill['pending']} pending;"
        f" restarted consumer claimed {claimed:.0f}, saw {duplicates:.0f} duplicates"
    )
