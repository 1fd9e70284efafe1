"""Labeled frames shared by ``train`` and ``evaluate``: events + point-in-time features.

Tickets and logged decisions (rewards; the decided turns of conversations, escalation
labels per turn) get their raw features from Feast as the online store served them at
the event (rows stamped strictly before it, :func:`training.data.dataset.features_before`;
for a decided turn, before its conversation started); customers get their latest features as
of the end of the data. Splits are by event time (train < validation <
test) for the supervised models and by a hash of the customer id for segments, so
``evaluate`` can rebuild exactly the holdout the model never saw.
"""

from __future__ import annotations

import hashlib
import warnings
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from modelio.vocab import ACTIONS, FEATURE_SERVICE
from training.data.conversation import with_conversation
from training.data.dataset import features_before, historical_features

SOURCE_FILES: tuple[str, ...] = (
    "customer_profile.parquet",
    "support_history.parquet",
    "engagement.parquet",
    "tickets.parquet",
    "engagement_daily.parquet",
    "decisions.parquet",
)
CONTEXT_COLUMNS: tuple[str, ...] = (
    "channel",
    "device",
    "issue_category",
    "sentiment",
    "timezone",
    "turn_index",
)
TRUE_SUCCESS: tuple[str, ...] = tuple(f"p_success__{a}" for a in ACTIONS)
#: Shares of the ticket time range used for training and validation (rest = test).
TRAIN_SHARE, VALIDATION_SHARE = 0.70, 0.15
#: One customer in HOLDOUT_MODULO is held out of segment fitting.
HOLDOUT_MODULO = 5


@dataclass
class Frames:
    """Everything the models are fitted and evaluated on (raw features, not inputs yet)."""

    tickets: pd.DataFrame  # tickets + raw features (+ p_escalate when truth exists)
    # decided turns + ticket context + conversation inputs + raw features (+ truth)
    decisions: pd.DataFrame
    customers: pd.DataFrame  # latest raw features per customer (+ archetype)
    window: dict[str, datetime]  # start, validation_start, test_start, end


def data_hash(data_dir: Path) -> str:
    """sha256 over the source parquet files (name + bytes, in a fixed order)."""
    digest = hashlib.sha256()
    for name in SOURCE_FILES:
        path = data_dir / name
        if path.is_file():
            digest.update(name.encode())
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def time_window(tickets: pd.DataFrame) -> dict[str, datetime]:
    """Split points by ticket time: the first 70 % train, next 15 % validation, rest test."""
    times = pd.to_datetime(tickets["event_timestamp"], utc=True)
    start, end = times.min(), times.max()
    span = end - start
    return {
        "start": start.to_pydatetime(),
        "validation_start": (start + TRAIN_SHARE * span).to_pydatetime(),
        "test_start": (start + (TRAIN_SHARE + VALIDATION_SHARE) * span).to_pydatetime(),
        "end": end.to_pydatetime(),
    }


def split_by_time(
    frame: pd.DataFrame, window: dict[str, datetime]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(train, validation, test) rows of ``frame`` by ``event_timestamp``."""
    times = pd.to_datetime(frame["event_timestamp"], utc=True)
    val, test = pd.Timestamp(window["validation_start"]), pd.Timestamp(window["test_start"])
    return frame[times < val], frame[(times >= val) & (times < test)], frame[times >= test]


def sample_frames(frames: Frames, fraction: float, seed: int) -> Frames:
    """A random ``fraction`` of the training and validation tickets and decisions, and
    every test row (customers and the time window unchanged): ``train --sample`` makes a
    deliberately weak version from it. The test slice stays whole because the version
    never trains on it, and its metrics and off-policy estimate (the replay's round-0
    estimate) would otherwise rest on a few hundred decisions."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError("sample fraction must be in (0, 1]")
    if fraction == 1.0:
        return frames

    def sample(frame: pd.DataFrame, offset: int) -> pd.DataFrame:
        test = pd.Series(False, index=frame.index)
        if "event_timestamp" in frame and "test_start" in frames.window:
            when = pd.to_datetime(frame["event_timestamp"], utc=True)
            test = when >= pd.Timestamp(frames.window["test_start"])
        kept = frame[~test].sample(frac=fraction, random_state=seed + offset)
        return pd.concat([kept, frame[test]]).sort_index()

    return Frames(
        tickets=sample(frames.tickets, 0),
        decisions=sample(frames.decisions, 1),
        customers=frames.customers,
        window=frames.window,
    )


def is_holdout_customer(customer_ids: pd.Series) -> pd.Series:
    """Deterministic customer holdout for segments (crc32 of the id, 1 in 5)."""
    return customer_ids.map(lambda c: zlib.crc32(str(c).encode()) % HOLDOUT_MODULO == 0)


def _read(data_dir: Path, name: str) -> pd.DataFrame | None:
    path = data_dir / name
    return pd.read_parquet(path) if path.is_file() else None


def _tickets(data_dir: Path) -> pd.DataFrame:
    tickets = pd.read_parquet(data_dir / "tickets.parquet")
    truth = _read(data_dir, "truth/tickets.parquet")
    if truth is not None:
        tickets = tickets.merge(truth[["ticket_id", "p_escalate"]], on="ticket_id", how="left")
    return tickets.sort_values("event_timestamp", kind="stable", ignore_index=True)


def _decisions(data_dir: Path, tickets: pd.DataFrame) -> pd.DataFrame:
    decisions = pd.read_parquet(data_dir / "decisions.parquet")
    context = [c for c in CONTEXT_COLUMNS if c not in decisions.columns]
    decisions = decisions.merge(tickets[["ticket_id", *context]], on="ticket_id", how="left")
    truth = _read(data_dir, "truth/decisions.parquet")
    if truth is not None:
        decisions = decisions.merge(truth, on="decision_id", how="left")
    decisions = decisions.sort_values("event_timestamp", kind="stable", ignore_index=True)
    return with_conversation(decisions)


def _customers(data_dir: Path, as_of: datetime) -> pd.DataFrame:
    profile = pd.read_parquet(data_dir / "customer_profile.parquet", columns=["customer_id"])
    customers = pd.DataFrame({"customer_id": sorted(profile["customer_id"].unique())})
    customers["event_timestamp"] = pd.Timestamp(as_of)
    truth = _read(data_dir, "truth/customers.parquet")
    if truth is not None:
        customers = customers.merge(
            truth[["customer_id", "archetype"]], on="customer_id", how="left"
        )
    return customers


def load_frames(data_dir: Path, store, feature_service: str = FEATURE_SERVICE) -> Frames:
    """Read the event tables and join their point-in-time features through ``store``."""
    tickets = _tickets(data_dir)
    window = time_window(tickets)
    decisions = _decisions(data_dir, tickets)
    customers = _customers(data_dir, window["end"] + timedelta(seconds=1))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Discarding nonzero nanoseconds")
        return Frames(
            tickets=features_before(store, tickets, feature_service),
            decisions=_turn_features(store, decisions, tickets, feature_service),
            customers=historical_features(store, customers, feature_service),
            window=window,
        )


def _turn_features(
    store, decisions: pd.DataFrame, tickets: pd.DataFrame, feature_service: str
) -> pd.DataFrame:
    """Decided turns with the customer's features as served during the conversation: as
    of its start (strictly before the ticket opened; the store is refreshed in batches,
    so a later turn minutes on does not see its own ticket in the support history yet),
    with each turn's own ``event_timestamp`` kept for the inputs' ages and calendar."""
    opened = decisions["ticket_id"].map(tickets.set_index("ticket_id")["event_timestamp"])
    at_open = decisions.assign(event_timestamp=opened.fillna(decisions["event_timestamp"]))
    out = features_before(store, at_open, feature_service)
    out["event_timestamp"] = pd.to_datetime(decisions["event_timestamp"], utc=True)
    return out
