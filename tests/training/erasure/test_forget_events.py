"""forget covers the behavioural-event streams: the events stream's entries, the dead
letters and the consumer's applied-id markers of the erased customers go, the others'
stay (real Redis, this test's own keys)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from server.events.publish import publish, publish_raw
from server.settings import Settings
from tests.support.events import make_event
from training.erasure.events import EVENTS_DEAD_LETTER_STREAM, EVENTS_STREAM, erase_events


@pytest.fixture
def client() -> Iterator[Any]:
    conn = redis.Redis(host="127.0.0.1", port=6379)
    prefix = f"test-forget-events-{uuid.uuid4().hex[:8]}"
    conn.prefix = prefix  # type: ignore[attr-defined]
    yield conn
    for key in conn.scan_iter(match=f"{prefix}*"):
        conn.delete(key)
    conn.close()


def test_defaults_are_the_consumers_stream_names() -> None:
    settings = Settings()
    assert (
        settings.events_stream,
        settings.events_dead_letter_stream,
    ) == (EVENTS_STREAM, EVENTS_DEAD_LETTER_STREAM)


def test_events_dead_letters_and_markers_of_the_customer_are_erased(client: Any) -> None:
    stream, dead = f"{client.prefix}:events", f"{client.prefix}:events:dead"
    gone, kept = make_event("activity", "C0000042"), make_event("activity", "C0000043")
    for event in (gone, kept, make_event("csat_survey", "C0000042")):
        publish(client, stream, event)
    publish_raw(client, dead, [b'{"customer_id": "C0000042", "kind": "bogus"}', b"{}"])
    marker = f"{stream}:applied:"
    client.set(marker + gone.event_id, b"row\x00C0000042\x00...")
    client.set(marker + kept.event_id, b"row\x00C0000043\x00...")
    client.set(marker + "ev-trimmed", b"\x01C0000042\x02")  # its entry already trimmed
    client.set(marker + "ev-longer-id", b"\x01C00000421\x02")  # another customer

    outcomes = erase_events(client, ["C0000042"], stream, dead)

    assert [o.removed.get("C0000042", 0) for o in outcomes] == [2, 1, 2]
    assert all(o.error is None for o in outcomes)
    left = [f[b"event"] for _, f in client.xrange(stream)]
    assert len(left) == 1 and b"C0000043" in left[0]
    assert [f[b"event"] for _, f in client.xrange(dead)] == [b"{}"]
    markers = sorted(k.decode() for k in client.scan_iter(match=f"{marker}*"))
    assert markers == sorted([marker + kept.event_id, marker + "ev-longer-id"])
    again = erase_events(client, ["C0000042"], stream, dead)
    assert all(not o.removed for o in again)  # idempotent: nothing more to remove
