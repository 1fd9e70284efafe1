"""Feature views. Names and fields must match modelio.vocab.FEATURE_VIEWS (tests check it).

TTLs say how long a value may be served: a profile changes rarely, engagement snapshots
are weekly, so a four-week-old engagement figure is stale and served as missing.
``conversation_state_fv`` (modelio.conversation) is keyed by the conversation, not the
customer, and written by the server itself; its TTL is the idle timeout of a conversation.
"""

from datetime import timedelta

from data_sources import (
    conversation_state_push_source,
    customer_profile_push_source,
    engagement_push_source,
    support_history_push_source,
)
from entities import conversation, customer
from feast import FeatureView, Field
from feast.types import Bool, Float64, Int64, String

customer_profile_fv = FeatureView(
    name="customer_profile_fv",
    entities=[customer],
    ttl=timedelta(days=400),
    schema=[
        Field(name="plan_tier", dtype=String, description="free | basic | plus | premium"),
        Field(name="monthly_spend", dtype=Float64, description="Current monthly spend"),
        Field(name="tenure_months", dtype=Int64, description="Months since sign-up"),
        Field(name="lifetime_value", dtype=Float64, description="Revenue to date"),
        Field(name="num_products", dtype=Int64, description="Active products"),
        Field(name="personalization_consent", dtype=Bool, description="Opt-in to personalization"),
        Field(name="preferred_formality", dtype=String, description="formal | casual"),
        Field(name="preferred_language", dtype=String, description="ISO 639-1 code"),
    ],
    online=True,
    source=customer_profile_push_source,
    tags={"owner": "crm", "pii": "true"},
)

support_history_fv = FeatureView(
    name="support_history_fv",
    entities=[customer],
    ttl=timedelta(days=180),
    schema=[
        Field(name="tickets_30d", dtype=Int64, description="Tickets opened in the last 30 days"),
        Field(name="tickets_90d", dtype=Int64, description="Tickets opened in the last 90 days"),
        Field(name="escalations_90d", dtype=Int64, description="Escalations closed in 90 days"),
        Field(name="billing_tickets_90d", dtype=Int64, description="Billing tickets, 90 days"),
        Field(name="technical_tickets_90d", dtype=Int64, description="Technical tickets, 90 days"),
        Field(name="avg_resolution_hours_90d", dtype=Float64, description="Mean hours to close"),
        Field(name="avg_sentiment_90d", dtype=Float64, description="Mean opening sentiment"),
        Field(name="last_csat", dtype=Float64, description="Last CSAT given (1-5)"),
        Field(name="last_ticket_ts", dtype=Int64, description="Unix time of the last ticket"),
    ],
    online=True,
    source=support_history_push_source,
    tags={"owner": "support"},
)

engagement_fv = FeatureView(
    name="engagement_fv",
    entities=[customer],
    ttl=timedelta(days=14),
    schema=[
        Field(name="sessions_28d", dtype=Float64, description="Sessions in 28 days"),
        Field(name="page_views_28d", dtype=Float64, description="Page views in 28 days"),
        Field(name="minutes_28d", dtype=Float64, description="Minutes active in 28 days"),
        Field(name="product_usage_28d", dtype=Float64, description="Product usage score"),
        Field(name="active_days_28d", dtype=Int64, description="Days with activity"),
    ],
    online=True,
    source=engagement_push_source,
    tags={"owner": "product-analytics"},
)

conversation_state_fv = FeatureView(
    name="conversation_state_fv",
    entities=[conversation],
    # modelio.conversation.IDLE_TTL_S: an idle conversation's state is served as missing.
    ttl=timedelta(seconds=1800),
    schema=[
        Field(name="started_s", dtype=Float64, description="Unix time of the first turn"),
        Field(name="turns", dtype=Int64, description="Turns decided so far"),
        Field(name="first_sentiment", dtype=Float64, description="Sentiment of the first turn"),
        Field(name="min_sentiment", dtype=Float64, description="Lowest sentiment so far"),
        Field(name="last_sentiment", dtype=Float64, description="Sentiment of the latest turn"),
        Field(name="categories_mask", dtype=Int64, description="Bit per issue category seen"),
        Field(name="actions", dtype=String, description="Chosen actions, comma-separated"),
        Field(name="outcomes", dtype=String, description="Their outcomes: ? unknown, 0, 1"),
        Field(name="decision_ids", dtype=String, description="Their decision ids"),
    ],
    online=True,
    source=conversation_state_push_source,
    tags={"owner": "personalization-server", "realtime": "true"},
)
