"""Dead letters: a refused entry, copied to ``events_dead_letter_stream`` with its reason."""

from __future__ import annotations

from typing import Any

from modelio.events import EVENT_FIELD
from server.events import metrics
from server.settings import Settings

#: A stream entry: its id and its fields.
Entry = tuple[bytes, dict[bytes, bytes]]


def write_dead_letters(client: Any, settings: Settings, dead: list[tuple[Entry, str, str]]) -> None:
    """XADD one letter per ``(entry, reason, detail)`` in one pipeline.

    A letter keeps the original JSON (cut to ``events_max_bytes`` when it was oversized,
    with its real ``size``), the entry id and the stream it came from, so a fixed
    publisher can replay it and a duplicate letter (a crash before the XACK) is
    recognisable by its ``entry_id``.
    """
    if not dead:
        return
    s = settings
    with client.pipeline(transaction=False) as pipe:
        for (entry_id, fields), reason, detail in dead:
            raw = fields.get(EVENT_FIELD, b"")
            letter = {
                "reason": reason,
                "detail": detail,
                "entry_id": entry_id,
                "stream": s.events_stream,
                "size": len(raw),
                "event": raw[: s.events_max_bytes],
            }
            pipe.xadd(
                s.events_dead_letter_stream,
                letter,
                maxlen=s.events_dead_letter_maxlen,
                approximate=True,
            )
            metrics.DEAD_LETTERED.labels(reason).inc()
        pipe.execute()
