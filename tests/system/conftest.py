"""Fixtures of this folder; defined once in tests/support."""

from tests.support.servers import running, start_server

__all__ = ["running", "start_server"]
