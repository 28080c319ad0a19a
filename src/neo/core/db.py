"""Database access: two asyncpg pools and the transaction helpers every capability uses.

* The **admin pool** connects as the configured owner (`postgres` on the embedded server) and
  serves NEO's own work: migrations, auth bookkeeping, key storage.
* The **API pool** connects as `authenticator` (NOINHERIT, no rights of its own) and serves
  requests acting for a caller. As in PostgREST, each such transaction switches role with
  `set_config('role', …, true)`; a `RESET ROLE` in user SQL only falls back to
  `authenticator`, never to the owner.

One request is one transaction; services never commit.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from neo.core.actor import Actor, RequestContext
from neo.core.errors import UnknownRole

# PostgREST's transaction-local settings, set in one round trip (spec §2.11).
_ACT_AS = """
select set_config('role', $1, true),
       set_config('request.jwt.claims', $2, true),
       set_config('request.method', $3, true),
       set_config('request.path', $4, true),
       set_config('request.headers', $5, true),
       set_config('search_path', $6, true),
       (select count(set_config(name, value, true))
          from unnest($7::text[], $8::text[]) as s(name, value))
"""
# What store functions accept: a plain connection or one borrowed from a pool.
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
RESERVED_CONNECTIONS = 10  # kept free for psql, migrations of other instances, replication


@dataclass(frozen=True)
class PoolSizes:
    """How many connections each pool of one process may open."""

    admin: int
    api: int


def size_pools(max_connections: int, *, workers: int, pool_max: int) -> PoolSizes:
    """Share the server's connections between `workers` processes, within `pool_max` each."""
    usable = max(4, max_connections - RESERVED_CONNECTIONS)
    per_process = max(4, usable // max(1, workers))
    # Auth and storage bookkeeping run on the owner pool, so it gets a real share: a third
    # of the process's connections, within the same `pool_max` cap as the API pool.
    admin = max(2, min(pool_max, per_process // 3))
    return PoolSizes(admin=admin, api=max(2, min(pool_max, per_process - admin)))


class Database:
    """The two pools of one NEO process."""

    def __init__(self, admin: asyncpg.Pool, api: asyncpg.Pool, search_path: list[str]) -> None:
        self.admin = admin
        self.api = api
        self.search_path = ", ".join(_quote_ident(s) for s in search_path)

    @classmethod
    async def connect(
        cls, admin_url: str, api_url: str, *, workers: int, pool_max: int, search_path: list[str]
    ) -> Database:
        """Open both pools, sized against the server's max_connections."""
        probe = await asyncpg.connect(admin_url)
        try:
            max_conn = int(await probe.fetchval("select current_setting('max_connections')"))
        finally:
            await probe.close()
        sizes = size_pools(max_conn, workers=workers, pool_max=pool_max)
        admin = await asyncpg.create_pool(admin_url, min_size=1, max_size=sizes.admin)
        try:
            api = await asyncpg.create_pool(api_url, min_size=1, max_size=sizes.api)
        except BaseException:
            await admin.close()
            raise
        return cls(admin, api, search_path)

    async def close(self) -> None:
        """Close both pools."""
        await self.api.close()
        await self.admin.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """One transaction on the admin pool (NEO's own bookkeeping)."""
        async with self.admin.acquire() as conn, conn.transaction():
            yield conn

    @asynccontextmanager
    async def transaction_as(
        self,
        actor: Actor,
        request: RequestContext | None = None,
        *,
        readonly: bool = False,
        settings: Mapping[str, str] | None = None,
    ) -> AsyncIterator[Connection]:
        """One transaction on the API pool acting as `actor`, with PostgREST's settings.

        `settings` adds transaction-local settings in the same round trip, after the role
        switch (a role's `ALTER ROLE … SET` values, another `search_path`).
        """
        request = request or RequestContext()
        extra = dict(settings or {})
        search_path = extra.pop("search_path", self.search_path)
        async with self.api.acquire() as conn, conn.transaction(readonly=readonly):
            try:
                await conn.execute(
                    _ACT_AS,
                    actor.role,
                    json.dumps(actor.claims, separators=(",", ":")),
                    request.method,
                    request.path,
                    json.dumps(request.headers, separators=(",", ":")),
                    search_path,
                    list(extra),
                    list(extra.values()),
                )
            except (asyncpg.InvalidParameterValueError, asyncpg.InsufficientPrivilegeError):
                raise UnknownRole(actor.role) from None
            yield conn


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
