"""Identity: organizations, memberships, custom roles, invitations, projects, service
accounts with `neo_sk_` API keys, and the audit log, under `/identity/v1` (NEO's native API
and error shape `{code, message, request_id}`).

Owns schema `neo_identity` (organizations, memberships with roles owner > admin > member >
viewer, invitations keeping only token hashes, projects, the append-only `audit_log`) and the
RLS helpers `neo.is_org_member(org)`, `neo.has_org_role(org, role)` and
`neo.current_org_ids()` that apps use in their own policies. Every user gets a personal
organization whose id is the user's id (a trigger on `auth.users`). Routes run as the caller
(RLS enforces tenancy; roles are read from the database on each request, so demotions apply
at once); every change appends an audit row. Invitation mails go through auth's mailer.

API keys (`keys.py`): `start` registers their resolver with the core gateway, which looks
each key up on every request (revocation and expiry apply at once); a key acts as role
`authenticated` with `sub` = its service account, seen by the helpers above and by
`neo.has_scope(permission)` / `neo.in_project_scope(project)`. Auth's audit entries are
mirrored into `audit_log` by a trigger; deleting a shared org's sole owner promotes its
longest-standing admin (decision 0009). Custom roles (`service_roles.py`) are per-org
permission sets on a built-in base role that they only narrow; `neo.has_org_permission(org,
permission)` checks them, and keys, in app policies. A user's own sessions are auth's
(`/auth/v1/sessions`).
"""

from pathlib import Path

from neo.core.migrations import MigrationSource
from neo.identity import router_keys as _keys  # noqa: F401  (registers its routes)
from neo.identity import router_member as _members  # noqa: F401  (registers its routes)
from neo.identity import router_roles as _roles  # noqa: F401  (registers its routes)
from neo.identity.keys import start
from neo.identity.router import PREFIX, router

MIGRATIONS = MigrationSource("identity", Path(__file__).with_name("migrations"))

__all__ = ["MIGRATIONS", "PREFIX", "router", "start"]
