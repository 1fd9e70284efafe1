"""Rows an event wrote last are real-time: the reader says when, the decision how old."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.events.publish import publish
from tests.server.events.conftest import World
from tests.server.events.test_consumer import KNOWN, drain
from tests.support.events import make_event

pytestmark = pytest.mark.redis


def test_event_written_view_is_real_time_until_feast_writes_it_again(world: World) -> None:
    before = world.reader.read([KNOWN])[0]
    assert before.realtime_time == -1.0  # materialized by Feast only
    occurred = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    event = make_event("activity", KNOWN, occurred_at=occurred, page_views=2)
    publish(world.client, world.settings().events_stream, event)
    drain(world, world.consumer())
    after = world.reader.read([KNOWN])[0]
    assert after.realtime_time == occurred.timestamp()
    assert after.event_times["engagement_fv"] == occurred.timestamp()
    # Feast (a batch job or a push) writing the view again makes it batch data again.
    feast_ts = after.event_times["customer_profile_fv"]
    view = world.store.get_feature_view("engagement_fv")
    frame = _row(KNOWN, view, datetime.now(UTC))
    world.store.write_to_online_store("engagement_fv", frame)
    again = world.reader.read([KNOWN])[0]
    assert again.realtime_time == -1.0
    assert again.event_times["customer_profile_fv"] == feast_ts


def _row(customer: str, view, at: datetime):  # type: ignore[no-untyped-def]
    import pandas as pd

    values = {f.name: 1.0 if str(f.dtype) == "Float64" else 1 for f in view.features}
    return pd.DataFrame(
        [{"customer_id": customer, **values, "event_timestamp": at, "created_timestamp": at}]
    )
