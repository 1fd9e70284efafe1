"""Point-in-time training sets through Feast (``python -m training dataset``).

Labeled events (tickets, logged decisions) carry ``customer_id`` and ``event_timestamp``;
Feast's ``get_historical_features`` joins, for every event, the latest feature values
stamped at or before the event and within each view's TTL. Nothing after the event leaks
in; tests/feature_repo/test_leakage.py proves it.

Training sets use :func:`features_before`: the rows stamped strictly BEFORE the event.
A ticket's own support-history row is stamped at its open time (docs/data.md), and the
online store at decision time does not hold it yet; joined "at or before", a training
ticket would see itself (``tickets_30d`` one higher, ``has_history`` always 1,
``days_since_last_ticket`` always 0), a skew the monitor found against the served log.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from modelio.vocab import FEATURE_SERVICE, FEATURE_VIEWS

EVENT_TABLES = {"tickets": "tickets.parquet", "decisions": "decisions.parquet"}
_TS = "datetime64[ns, UTC]"
#: "Just before" an event: Feast keeps microseconds, event times are whole seconds.
JUST_BEFORE = pd.Timedelta(1, "us")
RAW_FEATURES: tuple[str, ...] = tuple(f for names in FEATURE_VIEWS.values() for f in names)


def historical_features(
    store, events: pd.DataFrame, feature_service: str = FEATURE_SERVICE
) -> pd.DataFrame:
    """``events`` plus every feature of ``feature_service`` as of each event's time.

    The result keeps the events' rows, order and index; feature columns carry the raw
    feature names (no view prefix); missing values are NaN/None.

    Feast is asked once per feature view of the service, on the distinct
    (customer, time) keys, and the answers are left-joined back. Why: Feast 0.67's file
    offline store drops an entity row outright when a view has rows for that customer but
    none inside the TTL window before the event, and it also collapses duplicate keys;
    one call per view keeps those rows (with that view's features missing).
    """
    missing = {"customer_id", "event_timestamp"} - set(events.columns)
    if missing:
        raise ValueError(f"events lack required columns: {sorted(missing)}")
    out = events.copy()
    out["event_timestamp"] = pd.to_datetime(out["event_timestamp"], utc=True).astype(_TS)
    keys = out[["customer_id", "event_timestamp"]].drop_duplicates(ignore_index=True)
    for projection in store.get_feature_service(feature_service).feature_view_projections:
        names = [f.name for f in projection.features]
        refs = [f"{projection.name_to_use()}:{name}" for name in names]
        got = store.get_historical_features(entity_df=keys, features=refs).to_df()
        got["event_timestamp"] = pd.to_datetime(got["event_timestamp"], utc=True).astype(_TS)
        got = got[["customer_id", "event_timestamp", *names]]
        merged = out.merge(got, on=["customer_id", "event_timestamp"], how="left")
        merged.index = out.index
        out = merged
    return out


def features_before(
    store, events: pd.DataFrame, feature_service: str = FEATURE_SERVICE
) -> pd.DataFrame:
    """:func:`historical_features` as the online store serves them at each event's time:
    only rows stamped strictly before it (the event's own rows are not written yet).

    The join runs at ``event_timestamp - JUST_BEFORE``; the result keeps the events'
    own ``event_timestamp`` (the turn's time, from which the inputs' ages are taken)."""
    shifted = events.copy()
    when = pd.to_datetime(shifted["event_timestamp"], utc=True).astype(_TS)
    shifted["event_timestamp"] = when - JUST_BEFORE
    out = historical_features(store, shifted, feature_service)
    out["event_timestamp"] = when
    return out


def load_events(data_dir: Path, kind: str) -> pd.DataFrame:
    """The labeled events of ``kind`` (``tickets`` or ``decisions``) from ``data_dir``."""
    if kind not in EVENT_TABLES:
        raise ValueError(f"unknown event kind {kind!r}; choose from {sorted(EVENT_TABLES)}")
    return pd.read_parquet(data_dir / EVENT_TABLES[kind])
