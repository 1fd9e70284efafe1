"""What one erasure step removed from one place."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Outcome:
    """Counts removed from one place, per customer id.

    ``area`` is ``online``, ``offline`` or ``logs``; ``place`` names the store or file;
    ``unit`` says what was counted (``values``, ``keys``, ``rows``, ``lines``);
    ``detail`` splits a customer's count further (SQLite table -> values, Redis views).
    ``error`` is set when the place could not be processed: the erasure is incomplete.
    """

    area: str
    place: str
    unit: str
    removed: dict[str, int] = field(default_factory=dict)
    detail: dict[str, dict[str, int]] = field(default_factory=dict)
    note: str = ""
    error: str | None = None

    def count(self, customer_id: str) -> int:
        return self.removed.get(customer_id, 0)
