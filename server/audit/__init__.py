"""The audit log: one durable JSON line per customer decided for (or refused).

* :mod:`.writer` -- :class:`AuditWriter`, append + fdatasync with group commit.
* :mod:`.records` -- the line format and the keyed hash of customer ids.
* :mod:`.erase` -- :func:`erase_customer`, for right-to-erasure requests.
* :mod:`.interceptor` -- the server interceptor writing lines for Decide/DecideBatch
  (import it from there; it is not re-exported to keep this package import-light).
"""

from server.audit.erase import erase_customer
from server.audit.records import customer_hmac
from server.audit.writer import AuditWriter
from server.errors import AuditWriteError

__all__ = ["AuditWriteError", "AuditWriter", "customer_hmac", "erase_customer"]
