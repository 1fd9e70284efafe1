"""One FeatureService per model version; the server asks for features only by this name.

A model version ``personalization_v1-<timestamp>`` is trained on, and served with,
``personalization_v1``. Changing the feature set means a new service (``..._v2``), never
an edit of a service that a deployed model uses.
"""

from feast import FeatureService
from feature_views import (
    conversation_state_fv,
    customer_profile_fv,
    engagement_fv,
    support_history_fv,
)

personalization_v1 = FeatureService(
    name="personalization_v1",
    features=[customer_profile_fv, support_history_fv, engagement_fv],
    description="Inputs of the segment, escalation-risk and next-best-action models, v1.",
    tags={"models": "segment,escalation,nba"},
)

conversation_state_v1 = FeatureService(
    name="conversation_state_v1",
    features=[conversation_state_fv],
    description="A conversation's state so far (modelio.conversation), read by conversation_id"
    " in the same round trip as the customer's personalization_v1 features.",
    tags={"realtime": "true"},
)
