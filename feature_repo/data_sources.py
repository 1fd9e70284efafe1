"""Offline sources (parquet written by `python -m training simulate` or by your own ETL)
and push sources for streaming updates of the same views."""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from feast import FileSource, PushSource

#: Written by the simulator and by ``training conversations`` (from the server's logs);
#: until then an empty file with the view's schema,
#: so ``feast apply`` followed by ``materialize`` works on a repository without it.
CONVERSATION_STATE_PATH = "data/conversation_state.parquet"
CONVERSATION_STATE_SCHEMA = pa.schema(
    [
        ("conversation_id", pa.string()),
        ("event_timestamp", pa.timestamp("us", tz="UTC")),
        ("created_timestamp", pa.timestamp("us", tz="UTC")),
        ("started_s", pa.float64()),
        ("turns", pa.int64()),
        ("first_sentiment", pa.float64()),
        ("min_sentiment", pa.float64()),
        ("last_sentiment", pa.float64()),
        ("categories_mask", pa.int64()),
        ("actions", pa.string()),
        ("outcomes", pa.string()),
        ("decision_ids", pa.string()),
    ]
)


def ensure_conversation_state_file(repo: Path) -> Path:
    """The conversation-state source of ``repo``, created empty (schema only) if missing:
    Feast's materialization reads every view's source and fails on a missing file, and
    the server, not a batch job, is what fills this view online."""
    path = repo / CONVERSATION_STATE_PATH
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(CONVERSATION_STATE_SCHEMA.empty_table(), path)
    return path


# Runs when Feast imports this file (``feast apply``), which precedes any materialization.
ensure_conversation_state_file(Path(__file__).resolve().parent)

customer_profile_source = FileSource(
    name="customer_profile_source",
    path="data/customer_profile.parquet",
    timestamp_field="event_timestamp",
    created_timestamp_column="created_timestamp",
    description="CRM profile snapshots: plan, spend, tenure, consent and preferences.",
)

support_history_source = FileSource(
    name="support_history_source",
    path="data/support_history.parquet",
    timestamp_field="event_timestamp",
    created_timestamp_column="created_timestamp",
    description="Rolling support-ticket aggregates, one row per change point, point in time.",
)

engagement_source = FileSource(
    name="engagement_source",
    path="data/engagement.parquet",
    timestamp_field="event_timestamp",
    created_timestamp_column="created_timestamp",
    description="Weekly snapshots of 28-day engagement sums (sessions, pages, minutes, usage).",
)

conversation_state_source = FileSource(
    name="conversation_state_source",
    path=CONVERSATION_STATE_PATH,
    timestamp_field="event_timestamp",
    created_timestamp_column="created_timestamp",
    description="Conversation state after each decided turn and outcome (modelio.conversation),"
    " one row per change, point in time; written by the simulator for training.",
)

customer_profile_push_source = PushSource(
    name="customer_profile_push_source",
    batch_source=customer_profile_source,
    description="Push CRM changes (e.g. a consent withdrawal) without waiting for a batch.",
)

support_history_push_source = PushSource(
    name="support_history_push_source",
    batch_source=support_history_source,
    description="Push fresh support aggregates when a ticket opens or closes.",
)

engagement_push_source = PushSource(
    name="engagement_push_source",
    batch_source=engagement_source,
    description="Push engagement sums updated by app and web activity events (server.events).",
)

conversation_state_push_source = PushSource(
    name="conversation_state_push_source",
    batch_source=conversation_state_source,
    description="The server updates a conversation's state after every Decide and RecordOutcome"
    " (server.features.conversation), in this view's layout.",
)
