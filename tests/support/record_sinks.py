"""Sinks that record, block or fail on cue, sample rows of both kinds, metric reads."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import REGISTRY

from modelio.vocab import ACTIONS
from server.logs.base import Row

T0 = datetime(2025, 3, 4, 15, 30, tzinfo=UTC)


def log_count(kind: str, result: str) -> float:
    """Current value of personalization_log_records_total{kind, result} (0 if unset)."""
    value = REGISTRY.get_sample_value(
        "personalization_log_records_total", {"kind": kind, "result": result}
    )
    return value or 0.0


class RecordingSink:
    """Keeps every batch it is given, in order."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[Row]]] = []
        self.closed = False

    def write(self, kind: str, rows: Sequence[Row]) -> None:
        self.batches.append((kind, list(rows)))

    def close(self) -> None:
        self.closed = True

    def rows(self, kind: str) -> list[Row]:
        return [row for k, batch in self.batches if k == kind for row in batch]


class GateSink(RecordingSink):
    """Each write signals ``entered`` and then waits for ``gate``: a test holds the writer
    inside a write, so the queue fills deterministically."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Semaphore(0)

    def write(self, kind: str, rows: Sequence[Row]) -> None:
        self.entered.release()
        assert self.gate.wait(30), "test never opened the gate"
        super().write(kind, rows)


class FailingSink(RecordingSink):
    """Raises OSError on the first ``failures`` writes, then records."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.attempts = 0

    def write(self, kind: str, rows: Sequence[Row]) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise OSError(28, "No space left on device")
        super().write(kind, rows)


def decision_row(i: int) -> dict[str, Any]:
    """A complete DECISION_SCHEMA row (floats exactly representable in float32)."""
    probs = [0.0] * len(ACTIONS)
    probs[i % len(ACTIONS)] = 1.0
    return {
        "decision_id": f"d-{i:05d}",
        "ts": T0 + timedelta(milliseconds=i),
        "customer_id": f"C{i}",
        "request_id": f"r-{i}",
        "conversation_id": "",
        "model_version": "test-v1",
        "arm": "",
        "channel": "web_chat",
        "device": "mobile",
        "issue_category": "billing",
        "sentiment": -0.25,
        "event_time": T0 - timedelta(seconds=i),
        "time_zone": "Europe/Paris",
        "locale": "fr-FR",
        "turn_index": i % 5 + 1,
        "features": '{"plan_tier":"premium","tickets_30d":2}',
        "inputs": [0.5, 0.25, float(i)],
        "probabilities": probs,
        "action": ACTIONS[i % len(ACTIONS)],
        "action_index": i % len(ACTIONS),
        "propensity": 1.0,
        "scores": [0.125] * len(ACTIONS),
        "escalation_probability": 0.375,
        "segment_id": i % 4 - 1,
        "personalized": i % 2 == 0,
        "degraded": i % 3 == 0,
        "degraded_reasons": ["feature_timeout"] if i % 3 == 0 else [],
    }


def outcome_row(i: int) -> dict[str, Any]:
    return {
        "decision_id": f"d-{i:05d}",
        "received_at": T0 + timedelta(minutes=5, milliseconds=i),
        "event_time": T0 + timedelta(minutes=4),
        "resolved": i % 2 == 0,
        "escalated": i % 2 == 1,
        "csat": None if i % 4 == 0 else i % 5 + 1,
        "principal": "",
        "conversation_id": "" if i % 3 else f"chat-{i}",
    }
