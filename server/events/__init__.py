"""Behavioural events from a Redis stream into the feature store (``python -m server.events``).

Publishers XADD one JSON event per entry (schema: :mod:`modelio.events`; helper:
:func:`server.events.publish.publish`) to ``events_stream``. Consumers of the group
``events_group`` (one or more processes) validate each entry, apply the valid ones to
the online features in Feast's Redis layout (:mod:`server.events.effects`), push the
updated rows to the offline store in batches and dead-letter the rest with a reason.
docs/events.md has the streams, the guarantees and the measured figures.

Delivery is at-least-once; application is exactly-once per event id. Why a crash
cannot double-apply an increment: the script (``apply.lua``) does, atomically inside
Redis, "if the marker ``<events_stream>:applied:<event_id>`` exists, report a
duplicate; else read the customer's hash, apply the event, write the hash and set the
marker (TTL ``events_dedup_ttl_s``)". Redis runs a script to completion or not at all,
so there is no moment where the features are updated and the marker is not, or the
reverse. The stream entry is XACKed only after that (and after its offline row and
dead letter are written); a crash before the XACK leaves it pending, a restarted
consumer (same name) or another one (``XAUTOCLAIM`` after ``events_claim_idle_ms``)
gets it again and the script reports it duplicate. Publisher retries that reuse the
event id are caught the same way. The marker stores the row the event produced, so a
redelivery still writes the same offline row.

This package is its own process: the gRPC request path never imports it
(import-linter layer ``app | events``). It uses the server's settings, its Feast
value codec and :mod:`modelio`.
"""
