"""The consumer loop: read a batch, validate, apply, dead-letter, write offline, acknowledge.

Order of effects for a batch (why nothing is lost or applied twice):

1. ``XAUTOCLAIM`` entries idle past ``events_claim_idle_ms`` (a killed consumer's), and
   at start or after an error this consumer's own pending entries (``XREADGROUP 0``),
   then new ones (``XREADGROUP >``). Entries stay pending until step 4.
2. Invalid entries become dead letters; valid events go to the Lua script, which applies
   each one atomically with its applied-id marker, or reports it duplicate / unknown.
3. Dead letters are XADDed to the dead-letter stream; applied and duplicate events'
   rows join the offline buffer, which a thread of its own writes (server.events.offline).
4. Entries are XACKed only once their dead letter is written and their offline row is
   pushed. A crash anywhere before leaves them pending: they are delivered again, the
   markers turn the online part into a no-op and the offline row is produced again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from modelio.events import EVENT_FIELD, Event, InvalidEvent, check_time, parse_event
from server.events import metrics
from server.events.apply import Applied, OnlineApplier
from server.events.deadletter import Entry, write_dead_letters
from server.events.offline import OfflineWriter
from server.settings import Settings

log = logging.getLogger("server.events")


@dataclass
class Tally:
    """What this consumer did since it started (the metrics hold the same per label)."""

    applied: int = 0
    duplicate: int = 0
    dead_lettered: int = 0
    claimed: int = 0
    acked: int = 0


class EventConsumer:
    """One member of the consumer group. ``step`` does one round; ``run`` loops."""

    def __init__(
        self,
        stream_client: Any,
        applier: OnlineApplier,
        offline: OfflineWriter | None,
        settings: Settings,
        name: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = stream_client
        self._applier = applier
        self._offline = offline
        self._s = settings
        self.name = name
        self._clock = clock
        # Applied, waiting for their offline batch: ours, not to be claimed or read back.
        self._inflight: set[bytes] = set()
        self._written: list[bytes] = []  # their rows are written; to acknowledge
        self._read_own = True  # our own pending entries first (a restart under one name)
        self._own_cursor = "0"
        self._next_claim = 0.0
        self.tally = Tally()

    def ensure_group(self) -> None:
        """Create the group (from the stream's first entry) unless it exists."""
        try:
            self._redis.xgroup_create(self._s.events_stream, self._s.events_group, "0", True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _read(self) -> list[Entry]:
        s, entries = self._s, []
        now = time.monotonic()
        if now >= self._next_claim:
            self._next_claim = now + s.events_claim_idle_ms / 4000
            reply = self._redis.xautoclaim(
                s.events_stream,
                s.events_group,
                self.name,
                s.events_claim_idle_ms,
                "0-0",
                count=s.events_batch_size,
            )
            # Our own entries waiting for their offline batch look idle too: keep them.
            claimed = [e for e in reply[1] if e[0] not in self._inflight]
            self.tally.claimed += len(claimed)
            metrics.CLAIMED.inc(len(claimed))
            entries += claimed
        if self._read_own:  # page through our pending entries, then stop
            own = self._xreadgroup(self._own_cursor, None)
            self._read_own = bool(own)
            self._own_cursor = own[-1][0].decode() if own else "0"
            entries += [e for e in own if e[0] not in self._inflight]
        if not entries:
            entries = self._xreadgroup(">", s.events_block_ms)
        return entries

    def _xreadgroup(self, start: str, block: int | None) -> list[Entry]:
        s = self._s
        reply = self._redis.xreadgroup(
            s.events_group, self.name, {s.events_stream: start}, s.events_batch_size, block
        )
        entries = [(eid, fields) for _, batch in reply or [] for eid, fields in batch]
        gone = [eid for eid, fields in entries if not fields]
        if gone:  # pending entries the stream trimmed away: nothing left to apply
            log.warning("events: %d pending entries were trimmed from the stream", len(gone))
            self._ack(gone)
        return [(eid, fields) for eid, fields in entries if fields]

    def step(self) -> int:
        """Read and handle one batch; return how many entries it held."""
        try:
            entries = self._read()
            self._handle(entries)
            if self._offline is not None:
                if self._offline.due():
                    self._offline.submit()
                self._ack_written()
        except redis.RedisError as exc:
            # Everything read stays pending: re-read it when Redis answers again.
            log.warning("events: redis error, retrying: %r", exc)
            self._read_own = True
            time.sleep(min(1.0, self._s.events_block_ms / 1000))
            return 0
        return len(entries)

    def _handle(self, entries: list[Entry]) -> None:
        if not entries:
            return
        s, now = self._s, self._clock()
        valid: list[tuple[Entry, Event]] = []
        dead: list[tuple[Entry, str, str]] = []
        seen = set(self._inflight)
        for entry in entries:
            if entry[0] in seen:  # claimed and read in one round, or already ours
                continue
            seen.add(entry[0])
            try:
                event = parse_event(entry[1].get(EVENT_FIELD, b""), s.events_max_bytes)
                check_time(event, now, s.events_max_skew_s)
            except InvalidEvent as exc:
                dead.append((entry, exc.reason, exc.detail))
            else:
                valid.append((entry, event))
        done = [entry[0] for entry, _, _ in dead]
        results, failed = self._apply(valid)
        dead += failed
        done += [entry[0] for entry, _, _ in failed]
        for entry, result in results:
            kind = result.event.kind
            if result.status == "unknown":
                detail = f"no features for {result.event.customer_id}"
                dead.append((entry, "unknown_customer", detail))
                done.append(entry[0])
                continue
            if result.status == "ok":
                self.tally.applied += 1
                metrics.APPLIED.labels(kind).inc()
            else:
                self.tally.duplicate += 1
                metrics.DUPLICATE.labels(kind).inc()
            if self._offline is None:
                done.append(entry[0])
            else:
                self._offline.add(result, entry[0])
                self._inflight.add(entry[0])
        self._dead_letter(dead)
        self._ack(done)

    def _apply(
        self, valid: list[tuple[Entry, Event]]
    ) -> tuple[list[tuple[Entry, Applied]], list[tuple[Entry, str, str]]]:
        """Apply the batch in one script call. If the script itself fails (an error
        reply, not a lost connection), apply one by one so that only the event that
        fails is dead-lettered ('apply_failed'), instead of blocking the stream."""
        try:
            applied = self._applier.apply([event for _, event in valid])
            return [(e, r) for (e, _), r in zip(valid, applied, strict=True)], []
        except redis.ResponseError:
            if len(valid) <= 1:
                raise
        ok, failed = [], []
        for entry, event in valid:
            try:
                ok.append((entry, self._applier.apply([event])[0]))
            except redis.ResponseError as exc:
                log.error("events: %s failed to apply: %s", event.event_id, exc)
                failed.append((entry, "apply_failed", str(exc)[:500]))
        return ok, failed

    def _dead_letter(self, dead: list[tuple[Entry, str, str]]) -> None:
        write_dead_letters(self._redis, self._s, dead)
        self.tally.dead_lettered += len(dead)

    def _ack(self, ids: list[bytes]) -> None:
        if ids:
            self._redis.xack(self._s.events_stream, self._s.events_group, *ids)
            self.tally.acked += len(ids)

    def _ack_written(self) -> None:
        assert self._offline is not None
        ids = self._written + self._offline.written_ids()
        self._written = ids  # kept until the XACK succeeds (Redis may be failing)
        self._ack(ids)
        self._written = []
        self._inflight.difference_update(ids)

    def run(self, stop: threading.Event) -> None:
        """Loop until ``stop`` is set, then write the offline rows and acknowledge."""
        self.ensure_group()
        log.info(
            "events: consuming %s as %s/%s", self._s.events_stream, self._s.events_group, self.name
        )
        while not stop.is_set():
            self.step()
        self.close()

    def close(self) -> None:
        """Write what is buffered and acknowledge it (SIGTERM path)."""
        if self._offline is not None:
            self._offline.close()
            self._ack_written()
