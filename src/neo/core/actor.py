"""The Actor: who a request acts as, resolved once by the gateway and used by every capability.

An actor has a PostgreSQL role (`anon`, `authenticated`, `service_role`, ...) and the JWT
claims PostgREST exposes to SQL as `request.jwt.claims`, so RLS policies written for
Supabase see the same values under NEO.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Credential = Literal["none", "anon_key", "service_key", "jwt", "api_key"]


@dataclass(frozen=True)
class Actor:
    """The caller of one request."""

    role: str
    claims: dict[str, Any] = field(default_factory=dict)
    credential: Credential = "none"
    token: str | None = field(default=None, repr=False)  # the bearer JWT, never logged

    @property
    def user_id(self) -> str | None:
        """The `sub` claim (a user id for user tokens)."""
        sub = self.claims.get("sub")
        return str(sub) if sub is not None else None

    @property
    def is_service(self) -> bool:
        """True for the service role, which bypasses RLS."""
        return self.role == "service_role"

    @classmethod
    def anonymous(cls) -> Actor:
        """The caller with no credentials at all."""
        return cls(role="anon", claims={"role": "anon"})


@dataclass(frozen=True)
class RequestContext:
    """What PostgREST exposes of the HTTP request to SQL: method, path, headers."""

    method: str = "GET"
    path: str = "/"
    headers: dict[str, str] = field(default_factory=dict)
