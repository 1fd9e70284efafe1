"""What the transport layer needs from a decision engine.

``server.engine.factory.build_engine(settings)`` returns the real implementation;
tests pass a fake. Implementations must be thread-safe: the gRPC server calls
``decide`` and ``decide_batch`` from many handler threads at once.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from server.engine.conversations import ConversationTracker
from server.engine.types import Decision, DecisionRequest
from server.logs.base import RecordLog


@runtime_checkable
class Engine(Protocol):
    """A decision engine serving validated requests.

    Errors are reported by raising ``server.errors`` exceptions (e.g.
    ``NotReadyError``, ``FeatureStoreError``); the transport maps them to status codes.
    Anything else is treated as a bug and answered INTERNAL.
    """

    @property
    def model_version(self) -> str:
        """Version of the loaded model bundle (reported in every decision)."""
        ...

    def ready(self) -> bool:
        """True once models are loaded and the online store answers; cheap, polled."""
        ...

    def decide(self, req: DecisionRequest) -> Decision:
        """Decide for one turn."""
        ...

    def decide_batch(self, reqs: list[DecisionRequest]) -> list[Decision]:
        """Decide for many turns; one decision per request, in the same order."""
        ...

    def close(self) -> None:
        """Release connections and threads; called once after the server stopped."""
        ...


@runtime_checkable
class HasRecordLog(Protocol):
    """An engine that owns a record log (the decision log); the server records
    outcomes into the same log unless it is given another one."""

    @property
    def record_log(self) -> RecordLog:
        """The log the engine submits its ``decisions`` rows to."""
        ...


@runtime_checkable
class HasConversations(Protocol):
    """An engine that keeps conversation state; outcomes naming a conversation
    update it too."""

    @property
    def conversations(self) -> ConversationTracker | None:
        """The engine's conversation state (None when it keeps none)."""
        ...
