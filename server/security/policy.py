"""Which role each RPC needs: one table keyed by full-method-name prefix.

To protect a new service, add its prefix here (e.g. the admin service is already
listed). The longest matching prefix wins, so a single method can be given a role
different from the rest of its service. RPCs matching no entry need ``admin``
(fail closed: a service nobody classified is not open to every ``decide`` key).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

DECIDE = "decide"
#: Sends outcomes of decisions (RecordOutcome); cannot decide.
FEEDBACK = "feedback"
ADMIN = "admin"
#: Roles a key file may grant.
ROLES: frozenset[str] = frozenset({DECIDE, FEEDBACK, ADMIN})

HEALTH_PREFIX = "/grpc.health.v1.Health/"
REFLECTION_PREFIXES: tuple[str, ...] = (
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)

#: Full method name prefix -> role required. ``None`` means any valid key.
ROLE_BY_PREFIX: Mapping[str, str | None] = MappingProxyType(
    {
        "/personalization.v1.PersonalizationService/": DECIDE,
        "/personalization.v1.PersonalizationService/RecordOutcome": FEEDBACK,
        "/personalization.v1.PersonalizationService/RecordOutcomeBatch": FEEDBACK,
        "/personalization.v1.AdminService/": ADMIN,
        HEALTH_PREFIX: None,
        **dict.fromkeys(REFLECTION_PREFIXES, None),
    }
)
#: Role for RPCs that match no prefix.
DEFAULT_ROLE = ADMIN


@dataclass(frozen=True)
class Requirement:
    """What a call must present: nothing (``open``), any valid key, or a key with ``role``."""

    open: bool = False
    role: str | None = None


OPEN = Requirement(open=True)


@dataclass(frozen=True)
class AccessPolicy:
    """RPC -> :class:`Requirement`, from the role table plus the prefixes left open."""

    open_prefixes: tuple[str, ...] = ()
    roles: Mapping[str, str | None] = field(default_factory=lambda: ROLE_BY_PREFIX)

    @classmethod
    def from_settings(cls, auth_health: bool, auth_reflection: bool) -> AccessPolicy:
        """Health and reflection need a key only when their ``auth_*`` setting is on."""
        open_prefixes: tuple[str, ...] = ()
        if not auth_health:
            open_prefixes += (HEALTH_PREFIX,)
        if not auth_reflection:
            open_prefixes += REFLECTION_PREFIXES
        return cls(open_prefixes=open_prefixes)

    def requirement(self, method: str) -> Requirement:
        """What ``method`` (``/package.Service/Method``) requires of its caller."""
        if method.startswith(self.open_prefixes):
            return OPEN
        matches = [p for p in self.roles if method.startswith(p)]
        if not matches:
            return Requirement(role=DEFAULT_ROLE)
        return Requirement(role=self.roles[max(matches, key=len)])
