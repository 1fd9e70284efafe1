"""The audit log: one durable JSON line per customer decided for (or refused).

* :mod:`.writer` -- :class:`AuditWriter`, append + fdatasync with group commit.
* :mod:`modelio.audit_format` -- the line format, the keyed hash of customer ids and
  :func:`~modelio.audit_format.erase_customer` (shared with erasure in training).
* :mod:`.interceptor` -- the server interceptor writing lines for Decide/DecideBatch
  (import it from there; it is not re-exported to keep this package import-light).
"""

from server.audit.writer import AuditWriter
from server.errors import AuditWriteError

__all__ = ["AuditWriteError", "AuditWriter"]
