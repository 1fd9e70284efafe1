"""Domain errors of authentication and authorization.

``server.transport.errors`` maps them to UNAUTHENTICATED and PERMISSION_DENIED. Their
messages go to the caller and the access log, so they must never contain a key.
"""

from __future__ import annotations


class SecurityError(Exception):
    """Base class of the security errors the server raises on purpose."""


class UnauthenticatedError(SecurityError):
    """No API key, a malformed ``authorization`` header, or a key that matches none."""


class PermissionDeniedError(SecurityError):
    """A valid key whose roles do not include the one the RPC needs."""


class KeyFileError(SecurityError, ValueError):
    """The API-key file is missing, unreadable or malformed (a startup error)."""
