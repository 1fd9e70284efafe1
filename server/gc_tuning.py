"""Garbage-collector tuning applied once the server is warm.

Everything allocated at start-up (Feast registry, ONNX sessions, protobuf descriptors,
NumPy) lives for the whole process; scanning it on every gen-2 collection only adds
latency spikes. After warm-up we move it to the permanent generation (``gc.freeze``)
and collect the young generation less often: a request allocates a few hundred small
objects, all freed by reference counting, so few cycles exist to find.
Measure the effect with ``python -m bench --server-env PERSONALIZATION_GC_TUNING=false``
against a default run.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)

#: gen0 threshold: default 700 allocations; ~50 requests' worth before a young collection.
GEN0_THRESHOLD = 50_000


def tune_gc(enabled: bool = True) -> tuple[int, int, int]:
    """Collect, freeze the survivors, raise the gen-0 threshold; return the old thresholds."""
    old = gc.get_threshold()
    if not enabled:
        return old
    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, old[1], old[2])
    log.info(
        "gc tuned after warm-up",
        extra={"frozen_objects": gc.get_freeze_count(), "gen0_threshold": GEN0_THRESHOLD},
    )
    return old
