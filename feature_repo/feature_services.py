"""One FeatureService per model version; the server asks for features only by this name.

A model version ``personalization_v1-<timestamp>`` is trained on, and served with,
``personalization_v1``. Changing the feature set means a new service (``..._v2``), never
an edit of a service that a deployed model uses.
"""

from feast import FeatureService
from feature_views import customer_profile_fv, engagement_fv, support_history_fv

personalization_v1 = FeatureService(
    name="personalization_v1",
    features=[customer_profile_fv, support_history_fv, engagement_fv],
    description="Inputs of the segment, escalation-risk and next-best-action models, v1.",
    tags={"models": "segment,escalation,nba"},
)
