"""`neo_sk_` API keys: minting, hashing, and the resolver the gateway calls for each request.

A key is `neo_sk_` + 256 random bits (URL-safe base64): the prefix lets secret scanners
spot leaked keys. The database keeps its SHA-256 (enough for a key of that entropy) and its
first characters for lists; the key itself is shown once, in the answer that created it.
Every request carrying a key looks it up with one named query on the owner pool, so a
revoked or expired key fails on the very next request; `last_used_at` is written at most once
a minute. A live key acts as role `authenticated` with `sub` = its service account and a
`neo` claim naming the org, project and permissions (what RLS helpers and policies read).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from neo.core.actor import Actor
from neo.core.errors import Unavailable
from neo.core.gateway import KeyResolver
from neo.core.runtime import Core
from neo.identity import store

PREFIX = "neo_sk_"
_SHAPE = re.compile(r"^neo_sk_[A-Za-z0-9_-]{43}$")
SHOWN = len(PREFIX) + 6  # characters kept to name a key in lists


def new_key() -> str:
    """A fresh key: the prefix and 256 random bits."""
    return PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """What the database keeps of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def actor_for(row: Any) -> Actor:
    """The caller a live key acts as."""
    neo = {
        "kind": "service_account",
        "key_id": str(row["id"]),
        "org_id": str(row["org_id"]),
        "project_id": str(row["project_id"]) if row["project_id"] else None,
        "permissions": list(row["permissions"]),
    }
    claims = {
        "sub": str(row["service_account_id"]),
        "role": "authenticated",
        "aud": "authenticated",
        "is_anonymous": False,
        "neo": neo,
    }
    return Actor(role="authenticated", claims=claims, credential="api_key")


def resolver(core: Core) -> KeyResolver:
    """The gateway's resolver of `neo_sk_` keys for this core."""

    async def resolve(key: str) -> Actor | None:
        if not _SHAPE.match(key):
            return None
        try:
            async with core.db.admin.acquire(timeout=5) as conn:
                row = await store.resolve_api_key(conn, hash_key(key))
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            raise Unavailable("API keys cannot be checked right now") from exc
        return actor_for(row) if row is not None else None

    return resolve


@asynccontextmanager
async def start(core: Core, _section: object = None) -> AsyncIterator[None]:
    """Identity's start hook: register the key resolver with the gateway."""
    core.gateway.register_key_resolver(PREFIX, resolver(core))
    yield
