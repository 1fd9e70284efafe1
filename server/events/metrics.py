"""The consumer's Prometheus counters (default registry; ``events_metrics_port`` serves it).

==============================================  =======  ==============================
metric                                          type     meaning
==============================================  =======  ==============================
personalization_events_applied_total{kind}      counter  events applied to the online
                                                         store (first delivery of an id)
personalization_events_duplicate_total{kind}    counter  deliveries of an id already
                                                         applied (not applied again)
personalization_events_dead_lettered_total      counter  entries written to the
{reason}                                                 dead-letter stream, per reason
personalization_events_claimed_total            counter  idle pending entries taken over
                                                         from another consumer
personalization_events_offline_rows_total       counter  rows pushed to the offline store
==============================================  =======  ==============================
"""

from __future__ import annotations

from prometheus_client import Counter

APPLIED = Counter("personalization_events_applied", "Events applied to the online store.", ["kind"])
DUPLICATE = Counter(
    "personalization_events_duplicate",
    "Deliveries of an event id that was already applied (skipped).",
    ["kind"],
)
DEAD_LETTERED = Counter(
    "personalization_events_dead_lettered",
    "Stream entries refused and written to the dead-letter stream, per reason.",
    ["reason"],
)
CLAIMED = Counter(
    "personalization_events_claimed",
    "Pending entries idle past events_claim_idle_ms, taken over (XAUTOCLAIM).",
)
OFFLINE_ROWS = Counter("personalization_events_offline_rows", "Rows pushed to the offline store.")
