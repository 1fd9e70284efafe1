"""Who is calling: the authenticated principal of the current RPC.

The auth interceptor binds the principal for the duration of the handler (the
interceptors inside it and the servicer all run in that one handler thread), so
anything downstream -- the audit log, an admin servicer -- reads it with
:func:`current_principal` instead of re-parsing metadata.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: the id of the API key it presented and that key's roles."""

    key_id: str
    roles: frozenset[str]

    def has_role(self, role: str) -> bool:
        return role in self.roles


_CURRENT: ContextVar[Principal | None] = ContextVar("principal", default=None)


def current_principal() -> Principal | None:
    """The caller of the RPC this thread is handling; None when auth is disabled,
    for open RPCs (health, reflection) and outside of any RPC."""
    return _CURRENT.get()


@contextlib.contextmanager
def bound(principal: Principal | None) -> Iterator[None]:
    """Make ``principal`` current inside the block (handler threads are pooled, so the
    value must be reset afterwards or it would leak into the thread's next RPC)."""
    token = _CURRENT.set(principal)
    try:
        yield
    finally:
        # A response generator closed by the GC from another thread cannot reset a
        # token of this context; that thread never saw the value anyway.
        with contextlib.suppress(ValueError):
            _CURRENT.reset(token)


def current_key_id() -> str:
    """The current caller's API key id, or "" when there is no principal (auth off)."""
    principal = _CURRENT.get()
    return principal.key_id if principal is not None else ""
