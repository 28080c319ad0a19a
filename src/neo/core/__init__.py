"""Shared infrastructure every capability builds on.

Owns: the embedded PostgreSQL (`postgres`), the pools and the act-as-caller transaction
(`db`, `deps.Tx`), migrations (`migrations`, with the Supabase baseline in `migrations/*.sql`:
roles, schemas `auth` `storage` `realtime` `extensions`, `auth.uid()` & co, extension shims),
keys and JWKS (`keys`), the gateway that resolves each request to an `Actor` (`gateway`),
errors and their per-contract rendering (`errors`), logging, metrics, and the operational
routes `/health`, `/ready`, `/metrics`, `/neo/v1/whoami` (`router`).
Schema: `neo_core` (migrations record, secrets, signing keys).
"""

from neo.core.actor import Actor, RequestContext
from neo.core.errors import NeoError
from neo.core.runtime import Core

__all__ = ["Actor", "Core", "NeoError", "RequestContext"]
