"""The consumer's settings refuse combinations that would lose its own entries."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from server.settings import Settings


def test_offline_flush_must_fit_well_inside_the_claim_timeout() -> None:
    with pytest.raises(ValidationError, match="events_claim_idle_ms"):
        Settings(events_offline_flush_s=20.0, events_claim_idle_ms=30_000)
    Settings(events_offline=False, events_offline_flush_s=20.0, events_claim_idle_ms=30_000)


def test_events_stream_defaults_to_the_online_store_redis() -> None:
    assert Settings(redis="10.0.0.5:6380").events_address == "10.0.0.5:6380"
    assert Settings(events_redis="10.0.0.6:6379").events_address == "10.0.0.6:6379"
    with pytest.raises(ValidationError):
        Settings(events_redis="no-port")
