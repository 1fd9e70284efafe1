"""The model-input table is the one source of the input tuples, defaults and encoders."""

from __future__ import annotations

from datetime import UTC, datetime

from modelio.context import (
    CUSTOMER_INPUTS,
    ENGAGEMENT_INPUTS,
    HISTORY_INPUTS,
    PROFILE_INPUTS,
    TurnContext,
    customer_inputs,
    encode_inputs,
)
from modelio.inputs import BASE_DEFAULTS, CUSTOMER_INPUT_SPECS, GROUP_FLAGS


def test_every_customer_input_has_one_declaration_and_a_default() -> None:
    names = [s.name for s in CUSTOMER_INPUT_SPECS]
    assert len(names) == len(set(names))
    assert set(BASE_DEFAULTS) == set(names)
    assert set(PROFILE_INPUTS + ENGAGEMENT_INPUTS + HISTORY_INPUTS) == set(names)
    assert set(CUSTOMER_INPUTS) == set(names) | set(GROUP_FLAGS.values())


def test_encoder_uses_each_declared_transform_and_default() -> None:
    raw = {"plan_tier": "plus", "lifetime_value": 99.0, "personalization_consent": True}
    out = customer_inputs(raw, datetime(2024, 1, 1, tzinfo=UTC))
    assert out["plan_tier_rank"] == 2.0  # free, basic, plus
    assert abs(out["log_lifetime_value"] - 4.605170185988092) < 1e-12
    assert out["num_products"] == BASE_DEFAULTS["num_products"] == 1.0
    assert out["days_since_last_ticket"] == 365.0
    assert out["has_profile"] == 1.0 and out["has_engagement"] == 0.0


def test_encoded_keys_cover_the_declared_inputs() -> None:
    ctx = TurnContext("web_chat", "desktop", "billing", 0.1, datetime(2024, 1, 1, tzinfo=UTC))
    assert set(CUSTOMER_INPUTS) <= set(encode_inputs({}, ctx))
