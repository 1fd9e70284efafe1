"""The service's domain errors: one root, imported downward by every layer.

Transport, engine, features, models, security and audit raise these; none of them
carries a transport status code. ``server.transport.errors`` maps each class to a gRPC
status in one table, and anything that is not a :class:`PersonalizationError` becomes
INTERNAL with an incident id. This module imports nothing of ours.
"""

from __future__ import annotations


class PersonalizationError(Exception):
    """Base class of every error the service raises on purpose."""


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


class SecurityError(PersonalizationError):
    """Base class of authentication and authorization errors.

    Their messages go to the caller and the access log, so they must never contain a key.
    """


class UnauthenticatedError(SecurityError):
    """No API key, a malformed ``authorization`` header, or a key that matches none."""


class PermissionDeniedError(SecurityError):
    """A valid key whose roles do not include the one the RPC needs."""


class KeyFileError(SecurityError, ValueError):
    """The API-key file is missing, unreadable or malformed (a startup error)."""


class AuditWriteError(PersonalizationError):
    """An audit line could not be made durable, so the RPC must fail.

    Raised without a message (the cause is chained and logged server-side), so the
    caller learns nothing about the server's file system.
    """


class RecordLogFullError(PersonalizationError):
    """The decision/outcome log cannot take more records right now and the operator asked
    the server to refuse rather than drop (``decision_log_when_full = "refuse"``)."""


class RecordLogConfigError(PersonalizationError):
    """The decision/outcome log's sink cannot be opened (e.g. an unwritable
    ``decision_log_dir``); a startup error naming what is wrong."""
