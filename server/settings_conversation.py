"""Conversation-state settings of the server (a mixin of :class:`server.settings.Settings`):
whether Decide keeps per-conversation state, when real-time state counts as stale, and
how hard a state update retries a lost race (server.features.conversation)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from modelio.conversation import IDLE_TTL_S


class ConversationSettings(BaseSettings):
    """The ``conversation_*`` and ``realtime_*`` fields; the env prefix and the rest of the
    config come from :class:`server.settings.Settings`."""

    conversation_state: bool = Field(
        default=True,
        description="Keep per-conversation state (conversation_state_fv) for Decide calls "
        "that carry a conversation_id; off: conversation ids are accepted and ignored.",
    )
    realtime_stale_s: float = Field(
        default=600.0,
        gt=0,
        le=IDLE_TTL_S,
        description="Real-time state older than this many seconds is stale: a "
        "conversation's state that old is not used (the turn is decided from the batch "
        "profile, reason 'conversation_state_stale'). At most the view's idle TTL.",
    )
    conversation_write_retries: int = Field(
        default=8,
        ge=1,
        le=100,
        description="Compare-and-set attempts of one conversation-state update when "
        "concurrent turns of the same conversation race; an update that still loses is "
        "counted (conversation_state_writes_total{result='lost'}) and logged.",
    )
