"""Errors of the audit log (mapped to a status in ``server.transport.errors``)."""

from __future__ import annotations


class AuditWriteError(Exception):
    """An audit line could not be made durable, so the RPC must fail.

    Raised without a message (the cause is chained and logged server-side), so the
    caller learns nothing about the server's file system.
    """
