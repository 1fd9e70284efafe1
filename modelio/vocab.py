"""Closed vocabularies shared by the simulator, the feature repo, training and the server.

The proto enums in ``protos/personalization/v1`` mirror these tuples one to one
(``CHANNEL_WEB_CHAT`` <-> ``"web_chat"``); the order here is the one-hot order the
models were trained with, so append only, never reorder.
"""

from __future__ import annotations

CHANNELS: tuple[str, ...] = ("web_chat", "mobile_app", "messaging", "email", "voice")
DEVICES: tuple[str, ...] = ("desktop", "mobile", "tablet")
ISSUE_CATEGORIES: tuple[str, ...] = (
    "billing",
    "technical",
    "account",
    "shipping",
    "cancellation",
    "general",
)
PLAN_TIERS: tuple[str, ...] = ("free", "basic", "plus", "premium")
FORMALITIES: tuple[str, ...] = ("formal", "casual")
LANGUAGES: tuple[str, ...] = ("en", "es", "fr", "de", "pt")

#: Next-best-actions the bot can take. Index = position in the reward model's one-hot.
ACTIONS: tuple[str, ...] = (
    "self_service_article",
    "guided_troubleshooting",
    "account_billing_answer",
    "retention_offer",
    "priority_queue",
    "human_handoff",
    "proactive_follow_up",
)

#: Feature-view names in feature_repo/ and the raw feature names each one serves.
PROFILE_FEATURES: tuple[str, ...] = (
    "plan_tier",
    "monthly_spend",
    "tenure_months",
    "lifetime_value",
    "num_products",
    "personalization_consent",
    "preferred_formality",
    "preferred_language",
)
SUPPORT_FEATURES: tuple[str, ...] = (
    "tickets_30d",
    "tickets_90d",
    "escalations_90d",
    "billing_tickets_90d",
    "technical_tickets_90d",
    "avg_resolution_hours_90d",
    "avg_sentiment_90d",
    "last_csat",
    "last_ticket_ts",
)
ENGAGEMENT_FEATURES: tuple[str, ...] = (
    "sessions_28d",
    "page_views_28d",
    "minutes_28d",
    "product_usage_28d",
    "active_days_28d",
)

FEATURE_VIEWS: dict[str, tuple[str, ...]] = {
    "customer_profile_fv": PROFILE_FEATURES,
    "support_history_fv": SUPPORT_FEATURES,
    "engagement_fv": ENGAGEMENT_FEATURES,
}

#: The FeatureService the current model family is trained on and served with.
FEATURE_SERVICE = "personalization_v1"
