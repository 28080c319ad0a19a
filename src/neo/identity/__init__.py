"""Identity: organizations, memberships, invitations, projects and the audit log, under
`/identity/v1` (NEO's native API and error shape `{code, message, request_id}`).

Owns schema `neo_identity` (organizations, memberships with roles owner > admin > member >
viewer, invitations keeping only token hashes, projects, the append-only `audit_log`) and the
RLS helpers `neo.is_org_member(org)`, `neo.has_org_role(org, role)` and
`neo.current_org_ids()` that apps use in their own policies. Every user gets a personal
organization whose id is the user's id (a trigger on `auth.users`). Routes run as the caller
(RLS enforces tenancy; roles are read from the database on each request, so demotions apply
at once); every change appends an audit row. Invitation mails go through auth's mailer.
Not yet: service accounts, API keys (`neo_sk_`), custom roles, own-sessions endpoints.
"""

from pathlib import Path

from neo.core.migrations import MigrationSource
from neo.identity import router_member as _members  # noqa: F401  (registers its routes)
from neo.identity.router import PREFIX, router

MIGRATIONS = MigrationSource("identity", Path(__file__).with_name("migrations"))

__all__ = ["MIGRATIONS", "PREFIX", "router"]
