"""Domain errors of the decision engine. They carry no transport status codes:
``server.transport.errors`` maps them to gRPC codes in one table."""

from __future__ import annotations


class PersonalizationError(Exception):
    """Base class of every error the engine raises on purpose."""


class InvalidRequestError(PersonalizationError):
    """The caller sent something invalid; ``field`` names it, ``reason`` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class BatchTooLargeError(InvalidRequestError):
    """A batch holds more requests than the configured limit."""


class OverloadedError(PersonalizationError):
    """The server is at its concurrency cap; the caller should back off and retry."""


class NotReadyError(PersonalizationError):
    """Models or the online store are not ready yet."""


class ModelLoadError(PersonalizationError):
    """A model version is missing, corrupt or does not match its manifest."""


class FeatureStoreError(PersonalizationError):
    """The online store failed and no degraded answer was possible."""
