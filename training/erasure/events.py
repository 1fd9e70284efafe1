"""Erase customers from the behavioural-event streams (``python -m server.events``).

Three places hold a customer's events (docs/events.md): the events stream itself, the
dead-letter stream (refused events, with the original entry) and the consumer's
applied-id markers ``<events stream>:applied:<event id>``, which keep the row an event
produced (profile values included) for ``events_dedup_ttl_s``. Entries are matched as
the decision-log dead letters are (:func:`erase_dead`: the id as a token anywhere in
the entry); markers by the event ids of the erased entries and, for markers whose
entry the stream already trimmed, by the id's bytes in their value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from modelio.events import EVENT_FIELD
from training.erasure.decision_logs import erase_dead
from training.erasure.types import Outcome
from training.feedback.streams import scan, text

#: The stream names' defaults (server.settings_events), so forget needs no flags for them.
EVENTS_STREAM = "personalization:events"
EVENTS_DEAD_LETTER_STREAM = "personalization:events:dead"


def _event_ids(client: Any, stream: str, customer_ids: Sequence[str]) -> dict[str, str]:
    """Event id -> customer id of the stream's events about ``customer_ids``."""
    wanted = set(customer_ids)
    found: dict[str, str] = {}
    for _entry, fields in scan(client, stream):
        raw = fields.get(EVENT_FIELD) or fields.get(EVENT_FIELD.decode())
        try:
            event = json.loads(text(raw)) if raw is not None else None
        except (ValueError, UnicodeDecodeError):
            continue  # a refused payload: the dead-letter pass finds it by its text
        if isinstance(event, dict) and event.get("customer_id") in wanted:
            found[str(event.get("event_id"))] = str(event["customer_id"])
    return found


def erase_markers(
    client: Any, stream: str, customer_ids: Sequence[str], known: dict[str, str]
) -> Outcome:
    """DEL the applied-id markers of ``known`` event ids and of any marker whose value
    holds one of the ids."""
    out = Outcome("logs", f"redis {stream}:applied:*", "markers")
    prefix = f"{stream}:applied:"
    doomed = {f"{prefix}{event_id}": cid for event_id, cid in known.items()}
    pattern = re.compile(
        b"(?<![A-Za-z0-9])("
        + b"|".join(re.escape(c.encode()) for c in sorted(customer_ids, key=len, reverse=True))
        + b")(?![A-Za-z0-9])"
    )
    page: list[Any] = []
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        if text(key) not in doomed:
            page.append(key)
        if len(page) == 1000:  # markers may number in the millions: a page at a time
            _match_page(client, page, pattern, doomed)
            page = []
    _match_page(client, page, pattern, doomed)
    for name, cid in doomed.items():
        if client.delete(name):
            out.removed[cid] = out.removed.get(cid, 0) + 1
    return out


def _match_page(
    client: Any, keys: list[Any], pattern: re.Pattern[bytes], doomed: dict[str, str]
) -> None:
    """Add the markers of ``keys`` whose value holds an id to ``doomed``: one pipelined
    round trip (per node on a cluster) instead of a GET each."""
    if not keys:
        return
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.get(key)
    for key, value in zip(keys, pipe.execute(), strict=True):
        hit = pattern.search(value) if isinstance(value, bytes) else None
        if hit:
            doomed[text(key)] = hit.group(1).decode()


def erase_events(
    client: Any,
    customer_ids: Sequence[str],
    stream: str = EVENTS_STREAM,
    dead_stream: str = EVENTS_DEAD_LETTER_STREAM,
) -> list[Outcome]:
    """The events stream's and dead-letter stream's entries about ``customer_ids``, and
    the markers of those events."""
    known = _event_ids(client, stream, customer_ids)
    return [
        erase_dead(client, stream, customer_ids, {}),
        erase_dead(client, dead_stream, customer_ids, {}),
        erase_markers(client, stream, customer_ids, known),
    ]
