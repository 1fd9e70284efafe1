"""Publish events to the stream (for publishers in Python, the tests and the bench)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from modelio.events import EVENT_FIELD, Event, encode_event


def publish(client: Any, stream: str, event: Event, maxlen: int | None = None) -> bytes:
    """XADD ``event``; return the entry id (its first part is Redis's time in ms)."""
    entry_id: bytes = client.xadd(
        stream, {EVENT_FIELD: encode_event(event)}, maxlen=maxlen, approximate=True
    )
    return entry_id


def publish_raw(client: Any, stream: str, payloads: Iterable[bytes]) -> list[bytes]:
    """XADD pre-encoded payloads (valid or not) in one pipeline; return the entry ids."""
    with client.pipeline(transaction=False) as pipe:
        for payload in payloads:
            pipe.xadd(stream, {EVENT_FIELD: payload})
        ids: list[bytes] = pipe.execute()
    return ids
