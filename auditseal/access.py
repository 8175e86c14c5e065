"""Who may read what through the admin API (pure): roles, principals and the tenant scope.

Roles (DESIGN.md section 7):

- ``admin``: every tenant, and the operator endpoints that are not about one tenant;
- ``auditor``: the tenants named with it (``tenants``), read-only;
- ``tenant-auditor:<tenant>``: that one tenant, read-only.

The scope is decided here, on the server, for every endpoint and parameter: a handler
asks ``Principal.tenant_for(requested)`` and never looks at roles itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from auditseal.errors import Rejected
from auditseal.formats.storable import TENANT_RE

ROLE_RE = re.compile(r"^(admin|auditor|tenant-auditor:[A-Za-z0-9_.-]{1,128})$")


def parse_role(role: str, tenants: list[str] | tuple[str, ...] = ()) -> tuple[str, frozenset[str] | None]:
    """(role, tenants it reaches; None = all). Raises ValueError with the reason."""
    if not isinstance(role, str) or not ROLE_RE.fullmatch(role):
        raise ValueError(f"role {role!r}: one of admin, auditor, tenant-auditor:<tenant>")
    bad = [t for t in tenants if not isinstance(t, str) or not TENANT_RE.fullmatch(t)]
    if bad:
        raise ValueError(f"tenant {bad[0]!r}: letters, digits, '_', '.', '-' (1-128)")
    if role == "admin":
        if tenants:
            raise ValueError("role admin reaches every tenant: give no tenants")
        return role, None
    if role == "auditor":
        if not tenants:
            raise ValueError("role auditor needs the tenants it may read (--tenants a,b)")
        return role, frozenset(tenants)
    own = role.split(":", 1)[1]
    if tenants and set(tenants) != {own}:
        raise ValueError(f"role {role} reaches tenant {own} only")
    return role, frozenset({own})


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. ``name`` identifies it in audit events (a token's id or an
    OIDC subject), never a secret."""

    kind: str  # "token" | "config-token" | "oidc"
    name: str
    roles: tuple[str, ...]
    tenants: frozenset[str] | None = field(default=None)  # None: every tenant

    @classmethod
    def of(cls, kind: str, name: str, grants: list[tuple[str, list[str]]]) -> "Principal":
        """Union of several (role, tenants) grants; raises ValueError on a bad one."""
        roles, reach, everything = [], set(), False
        for role, tenants in grants:
            role, scope = parse_role(role, tenants)
            roles.append(role)
            if scope is None:
                everything = True
            else:
                reach |= scope
        if not roles:
            raise ValueError("no role")
        return cls(kind, name, tuple(roles), None if everything else frozenset(reach))

    @property
    def is_admin(self) -> bool:
        return self.tenants is None

    def may_read(self, tenant: str) -> bool:
        return self.tenants is None or tenant in self.tenants

    def tenant_for(self, requested: str | None) -> str:
        """The tenant a call reads: the one asked for if this principal may read it; the
        principal's only tenant when none is asked. Refusals are ``Rejected("forbidden")``
        (or ``bad_query`` when a choice is needed) and never say what exists."""
        if requested:
            if not TENANT_RE.fullmatch(requested):
                raise Rejected("bad_query", "tenant: letters, digits, '_', '.', '-' (1-128)")
            if not self.may_read(requested):
                raise Rejected("forbidden", "this credential may not read that tenant")
            return requested
        if self.tenants is not None and len(self.tenants) == 1:
            return next(iter(self.tenants))
        raise Rejected("bad_query", "tenant is required")

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Rejected("forbidden", "this endpoint needs the admin role")

    def visible(self, tenants: list[str]) -> list[str]:
        return [t for t in tenants if self.may_read(t)]
