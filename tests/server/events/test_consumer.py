"""The consumer in process: effects of each kind, idempotency, dead letters, offline rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from modelio.events import encode_event
from server.events.consumer import EventConsumer
from server.events.publish import publish, publish_raw
from tests.server.events.conftest import World
from tests.support.events import group_done, make_event, wait_until

pytestmark = pytest.mark.redis
KNOWN = "C0000001"  # consent, profile, live engagement and support history


def drain(world: World, consumer: EventConsumer) -> None:
    s = world.settings()
    consumer.ensure_group()

    def done() -> bool:
        consumer.step()
        return group_done(world.client, s.events_stream, s.events_group)

    wait_until(done, timeout=20, step=0)


def test_each_kind_updates_the_features_the_models_read(world: World) -> None:
    settings = world.settings()
    before = world.features(KNOWN)
    for event in (
        make_event("activity", KNOWN, new_session=True, page_views=4, minutes=3.0),
        make_event("activity", KNOWN, new_session=False, page_views=1, minutes=0.5),
        make_event("purchase", KNOWN, amount=20.0, new_product=True),
        make_event("csat_survey", KNOWN, score=1),
        make_event("consent_change", KNOWN, personalization_consent=False),
    ):
        publish(world.client, settings.events_stream, event)
    consumer = world.consumer()
    drain(world, consumer)
    after = world.features(KNOWN)
    assert consumer.tally.applied == 5
    assert after["sessions_28d"] == before["sessions_28d"] + 1
    assert after["page_views_28d"] == before["page_views_28d"] + 5
    assert after["minutes_28d"] == before["minutes_28d"] + 3.5
    assert after["active_days_28d"] == before["active_days_28d"] + 1  # one new UTC day
    assert after["lifetime_value"] == before["lifetime_value"] + 20
    assert after["num_products"] == before["num_products"] + 1
    assert after["last_csat"] == 1.0
    assert before["personalization_consent"] is True
    assert after["personalization_consent"] is False
    untouched = {"plan_tier", "tenure_months", "tickets_90d", "product_usage_28d"}
    assert {k: after[k] for k in untouched} == {k: before[k] for k in untouched}


def test_the_same_event_id_applies_once(world: World) -> None:
    settings = world.settings()
    before = world.features(KNOWN)["page_views_28d"]
    event = make_event("activity", KNOWN, page_views=7)
    for _ in range(3):  # a publisher retrying, and a redelivery in another batch
        publish(world.client, settings.events_stream, event)
    consumer = world.consumer()
    drain(world, consumer)
    publish(world.client, settings.events_stream, event)
    drain(world, consumer)
    assert world.features(KNOWN)["page_views_28d"] == before + 7
    assert (consumer.tally.applied, consumer.tally.duplicate) == (1, 3)


def test_bad_events_are_dead_lettered_with_their_reason(world: World) -> None:
    settings = world.settings(events_max_bytes=512)
    good = make_event("activity", KNOWN, page_views=2)
    good_json = encode_event(good).decode()
    future = datetime.now(UTC) + timedelta(minutes=10)
    bad: dict[str, str | bytes] = {
        "invalid_schema": good_json.replace('"page_views":2', '"page_views":"2"'),
        "unknown_customer": encode_event(make_event("csat_survey", "NOBODY-1")).decode(),
        "future_timestamp": encode_event(make_event("csat_survey", KNOWN, occurred_at=future)),
        "oversized": good_json.replace('"source"', '"pad":"' + "x" * 600 + '","source"'),
        "invalid_json": good_json[:-5],
    }
    payloads = [v if isinstance(v, bytes) else v.encode() for v in bad.values()]
    wrong_kind = good_json.replace('"activity"', '"teleport"').encode()
    before = world.features(KNOWN)["page_views_28d"]
    publish_raw(world.client, settings.events_stream, [*payloads, wrong_kind])
    publish(world.client, settings.events_stream, good)  # after all of them
    consumer = world.consumer(events_max_bytes=512)
    drain(world, consumer)
    letters = world.client.xrange(settings.events_dead_letter_stream)
    # In the order published (unknown customers are found after validation, in Redis).
    letters.sort(key=lambda letter: tuple(map(int, letter[1][b"entry_id"].split(b"-"))))
    reasons = [fields[b"reason"].decode() for _, fields in letters]
    assert reasons == [*bad, "invalid_schema"]
    details = [fields[b"detail"].decode() for _, fields in letters]
    assert "page_views" in details[0] and "teleport" in details[-1]
    by_entry = {fields[b"entry_id"]: fields for _, fields in letters}
    assert len(by_entry) == 6
    assert all(f[b"event"] for f in by_entry.values())  # the original comes along
    assert world.features(KNOWN)["page_views_28d"] == before + 2  # and it kept going
    assert consumer.tally.dead_lettered == 6 and consumer.tally.applied == 1


def test_applied_rows_reach_the_offline_store(world: World) -> None:
    settings = world.settings()
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    events = [
        make_event("activity", KNOWN, occurred_at=at + timedelta(seconds=i)) for i in range(3)
    ]
    for event in events:
        publish(world.client, settings.events_stream, event)
    online = world.features(KNOWN)["page_views_28d"]
    drain(world, world.consumer())
    frame = pd.read_parquet(world.repo / "data" / "engagement.parquet")
    rows = frame[frame["event_timestamp"] >= pd.Timestamp(at)].sort_values("event_timestamp")
    assert list(rows["customer_id"]) == [KNOWN] * 3
    assert list(rows["page_views_28d"]) == [online + 3 * (i + 1) for i in range(3)]
    assert world.features(KNOWN)["page_views_28d"] == online + 9


def test_an_event_the_script_cannot_apply_is_dead_lettered_alone(world: World) -> None:
    settings = world.settings()
    consumer = world.consumer()
    broken = "C0000002"
    world.client.set(consumer._applier.key(broken), b"not a hash")  # WRONGTYPE in the script
    before = world.features(KNOWN)["page_views_28d"]
    publish(world.client, settings.events_stream, make_event("activity", broken))
    publish(world.client, settings.events_stream, make_event("activity", KNOWN, page_views=4))
    drain(world, consumer)
    letters = world.client.xrange(settings.events_dead_letter_stream)
    assert [f[b"reason"] for _, f in letters] == [b"apply_failed"]
    assert b"WRONGTYPE" in letters[0][1][b"detail"]
    assert world.features(KNOWN)["page_views_28d"] == before + 4


def test_a_set_obeys_event_time_whatever_arrives_first(world: World) -> None:
    settings = world.settings()
    now = datetime.now(UTC)
    assert world.features(KNOWN)["personalization_consent"] is True
    for event in (
        # A purchase moves the profile's event time on; an earlier withdrawal still counts.
        make_event("purchase", KNOWN, occurred_at=now),
        make_event("consent_change", KNOWN, occurred_at=now - timedelta(minutes=5)),
        # Older than that withdrawal: ignored.
        make_event(
            "consent_change",
            KNOWN,
            occurred_at=now - timedelta(minutes=9),
            personalization_consent=True,
        ),
        # Older than the CRM snapshot the batch loaded (30 days): ignored.
        make_event("csat_survey", KNOWN, occurred_at=now - timedelta(days=300), score=1),
    ):
        publish(world.client, settings.events_stream, event)
    consumer = world.consumer()
    drain(world, consumer)
    after = world.features(KNOWN)
    assert consumer.tally.applied == 4
    assert after["personalization_consent"] is False
    assert after["last_csat"] != 1.0
