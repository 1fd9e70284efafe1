"""Offline sources (parquet written by `python -m training simulate` or by your own ETL)
and push sources for streaming updates of the same views."""

from feast import FileSource, PushSource

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
