"""The reward: how an observed outcome becomes the number the next-best-action optimizes.

One definition, used by the feedback join (logged traffic), by training's reward model
and by the simulator's ground truth, so "value" means the same everywhere. It lives in
the policy (``reward:`` in training/policy.yaml) and is frozen into every manifest.

Semantics follow Azure Personalizer's Rank/Reward: an outcome must arrive within
``wait_s`` of the decision; a decision whose outcome never arrives (or arrives late)
gets ``default_reward`` once the wait is over.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RewardConfig(BaseModel):
    """Reward definition (``policy.reward`` in the manifest)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wait_s: float = Field(
        default=3600.0, gt=0, description="Seconds after a decision within which its outcome counts"
    )
    default_reward: float = Field(
        default=0.0, description="Reward of a decision whose outcome did not arrive within wait_s"
    )
    resolved_reward: float = Field(
        default=1.0, description="Reward of a conversation resolved without escalation"
    )
    escalated_reward: float = Field(default=0.0, description="Reward of an escalated conversation")
    unresolved_reward: float = Field(
        default=0.0, description="Reward when neither resolved nor escalated"
    )
    csat_weight: float = Field(
        default=0.0,
        ge=0.0,
        description="Added (csat - 3) / 2 * csat_weight when a CSAT (1-5) was given; 0 ignores it",
    )


def reward_of(resolved: bool, escalated: bool, csat: int | None, config: RewardConfig) -> float:
    """The reward of one observed outcome. Escalation wins over resolution: a conversation
    that ended with a human agent is not a success of the bot's action."""
    if escalated:
        value = config.escalated_reward
    elif resolved:
        value = config.resolved_reward
    else:
        value = config.unresolved_reward
    if csat is not None and config.csat_weight:
        value += config.csat_weight * (csat - 3) / 2.0
    return value


def is_success(resolved: bool, escalated: bool) -> bool:
    """Resolved without escalation: the simulator's ``success`` and the default reward 1."""
    return resolved and not escalated
