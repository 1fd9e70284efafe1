"""Right to erasure, store by store; ``python -m training forget`` drives them.

* :mod:`.online` -- Feast online stores (SQLite, Redis, Redis Cluster).
* :mod:`.offline` -- parquet tables in the data folder, rewritten atomically.
* :mod:`.logs` -- JSON-lines logs (the audit log through ``modelio.audit_format``).
* :mod:`.record` -- the append-only erasure record, which never holds the id.
* :mod:`.verify` -- a raw-byte search for ids left behind.
* :mod:`.forget` -- every place above in order, and the record lines.

Every function takes the whole list of ids and answers ``{customer_id: count}`` per
place, so many customers cost one pass over each file.
"""
