"""Database access: two asyncpg pools and the transaction helpers every capability uses.

* The **admin pool** connects as the configured owner (`postgres` on the embedded server) and
  serves NEO's own work: migrations, auth bookkeeping, key storage.
* The **API pool** connects as `authenticator` (NOINHERIT, no rights of its own) and serves
  requests acting for a caller. As in PostgREST, each such transaction switches role with
  `set_config('role', …, true)`; a `RESET ROLE` in user SQL only falls back to
  `authenticator`, never to the owner.

One request is one transaction; services never commit. A transaction acting as a caller
costs three round trips: BEGIN with the settings, the work, COMMIT with the session reset
(asyncpg's own BEGIN, COMMIT and reset-on-release would make it five). Its connection comes
from the pool's warm stack (`core.warm`) when one is there, and returns to it when the
transaction ended cleanly.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from neo.core.actor import Actor, RequestContext
from neo.core.errors import UnknownRole
from neo.core.warm import WarmConnections

# The session reset asyncpg's pool would run on release (advisory locks, cursors, LISTENs,
# session-level settings a function may have made), sent with COMMIT/ROLLBACK instead.
_RESET = "; select pg_advisory_unlock_all(); close all; unlisten *; reset all"
_COMMIT = "commit" + _RESET
_ROLLBACK = "rollback" + _RESET
# What store functions accept: a plain connection or one borrowed from a pool.
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
RESERVED_CONNECTIONS = 10  # kept free for psql, migrations of other instances, replication
_NO_REQUEST = RequestContext()
_json = json.JSONEncoder(separators=(",", ":")).encode  # json.dumps(…, separators=…), prebuilt


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


class ApiConnection(asyncpg.Connection):
    """A connection of the API pool: `transaction_as` resets the session in the same round
    trip as its COMMIT or ROLLBACK, so the pool's reset on release has nothing left to do."""

    def get_reset_query(self) -> str:
        return ""


class OwnerConnection(asyncpg.Connection):
    """A connection of the admin pool, released without asyncpg's session-reset round trip.

    NEO's own code keeps session state transaction-local on these connections
    (`set_config(…, true)`, no LISTEN, advisory locks released where taken; LISTEN and
    migrations use connections of their own), so the reset would only cost a round trip per
    use — about a tenth of a refresh-token grant. asyncpg still rolls back a transaction left
    open. `tests/core/test_owner_pool.py` keeps the sources to that rule.
    """

    def get_reset_query(self) -> str:
        return ""


def begin_as_sql(
    actor: Actor,
    request: RequestContext,
    *,
    search_path: str,
    readonly: bool,
    settings: Mapping[str, str],
) -> str:
    """BEGIN and PostgREST's transaction-local settings (spec §2.11) as one simple query:
    role, `request.jwt.claims`, method, path, headers, search_path, then `settings` (a
    `search_path` among them replaces the default one).

    Values are sent as escaped literals (E'' strings, read the same whatever
    standard_conforming_strings says) because the simple protocol, the only one that takes
    several statements in one round trip, has no parameters. The role and claims part is
    built once per claims object (the gateway shares one per verified token), the settings
    part once per distinct settings.
    """
    if not _REQUEST_SETTINGS.isdisjoint(settings):  # e.g. a role's `ALTER ROLE … SET role`
        pairs = {
            "role": actor.role,
            "request.jwt.claims": _json(actor.claims),
            "request.method": request.method,
            "request.path": request.path,
            "request.headers": _json(request.headers),
            "search_path": search_path,
        } | dict(settings)
        calls = ", ".join(f"set_config({literal(k)}, {literal(v)}, true)" for k, v in pairs.items())
        return f"begin{' read only' if readonly else ''}; select {calls}"
    return "".join(
        (
            "begin read only; select " if readonly else "begin; select ",
            _actor_sql(actor),
            _request_sql(request),
            _settings_sql(settings.get("search_path", search_path), settings),
        )
    )


# Settings `settings` may override in place (search_path aside); they take the general path.
_REQUEST_SETTINGS = frozenset(
    {"role", "request.jwt.claims", "request.method", "request.path", "request.headers"}
)
_ACTOR_SQL: dict[int, tuple[dict[str, Any], str, str]] = {}  # id(claims) -> claims, role, SQL
_REQUEST_SQL: dict[int, tuple[RequestContext, str]] = {}  # id(request) -> request, SQL
_SETTINGS_SQL: dict[tuple[tuple[str, str], ...], str] = {}
_CACHE_MAX = 4096  # entries of each cache; a full cache is emptied and refilled


def _actor_sql(actor: Actor) -> str:
    """The role and claims settings. Claims dicts are never changed once an Actor holds
    them, so one is recognised by identity (the cache keeps it alive, so its id stays its)."""
    claims = actor.claims
    hit = _ACTOR_SQL.get(id(claims))
    if hit is not None and hit[0] is claims and hit[1] == actor.role:
        return hit[2]
    sql = _setting("role", actor.role) + _setting("request.jwt.claims", _json(claims))
    if len(_ACTOR_SQL) >= _CACHE_MAX:
        _ACTOR_SQL.clear()
    _ACTOR_SQL[id(claims)] = (claims, actor.role, sql)
    return sql


def _request_sql(request: RequestContext) -> str:
    """The method, path and headers settings. A context is never changed once built (the
    data API shares one between requests with the same method, path and raw headers), so
    one is recognised by identity, as claims are."""
    hit = _REQUEST_SQL.get(id(request))
    if hit is not None and hit[0] is request:
        return hit[1]
    sql = (
        _setting("request.method", request.method)
        + _setting("request.path", request.path)
        + _setting("request.headers", _json(request.headers))
    )
    if len(_REQUEST_SQL) >= _CACHE_MAX:
        _REQUEST_SQL.clear()
    _REQUEST_SQL[id(request)] = (request, sql)
    return sql


def _settings_sql(search_path: str, settings: Mapping[str, str]) -> str:
    """search_path and the other settings, the last of the statement (no trailing comma)."""
    key = (("search_path", search_path), *settings.items())
    sql = _SETTINGS_SQL.get(key)
    if sql is None:
        others = [(k, v) for k, v in settings.items() if k != "search_path"]
        sql = ", ".join(
            f"set_config({literal(k)}, {literal(v)}, true)"
            for k, v in [("search_path", search_path), *others]
        )
        if len(_SETTINGS_SQL) >= _CACHE_MAX:
            _SETTINGS_SQL.clear()
        _SETTINGS_SQL[key] = sql
    return sql


def _setting(name: str, value: str) -> str:
    return f"set_config({literal(name)}, {literal(value)}, true), "


def literal(value: str) -> str:
    """A string as an E'' SQL literal. NUL, which no text value can hold (a `%00` in a URL
    path), becomes U+FFFD rather than an error."""
    value = value.replace("\x00", "\ufffd")
    return "E'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Database:
    """The two pools of one NEO process."""

    def __init__(self, admin: asyncpg.Pool, api: asyncpg.Pool, search_path: list[str]) -> None:
        self.admin = admin
        self.api = api
        # one slot stays for code that acquires from `api` directly
        self.warm = WarmConnections(api, limit=max(1, api.get_max_size() - 1))
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
        admin = await asyncpg.create_pool(
            admin_url, min_size=1, max_size=sizes.admin, connection_class=OwnerConnection
        )
        try:
            api = await asyncpg.create_pool(
                api_url, min_size=1, max_size=sizes.api, connection_class=ApiConnection
            )
        except BaseException:
            await admin.close()
            raise
        return cls(admin, api, search_path)

    async def close(self) -> None:
        """Close both pools."""
        await self.warm.close()
        await self.api.close()
        await self.admin.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """One transaction on the admin pool (NEO's own bookkeeping)."""
        async with self.admin.acquire() as conn, conn.transaction():
            yield conn

    def transaction_as(
        self,
        actor: Actor,
        request: RequestContext | None = None,
        *,
        readonly: bool = False,
        settings: Mapping[str, str] | None = None,
    ) -> AbstractAsyncContextManager[Connection]:
        """One transaction on the API pool acting as `actor`, with PostgREST's settings:
        committed when the block ends, rolled back when it raises.

        `settings` adds transaction-local settings in the same round trip, after the role
        switch (a role's `ALTER ROLE … SET` values, another `search_path`).
        """
        begin = begin_as_sql(
            actor,
            request or _NO_REQUEST,
            search_path=self.search_path,
            readonly=readonly,
            settings=settings or {},
        )
        return _CallerTransaction(self.warm, begin, actor.role)


class _CallerTransaction:
    """`Database.transaction_as`'s context manager (a class rather than a generator: it is
    entered once per API request). A connection whose transaction ended cleanly stays warm
    for the next one (`core.warm`); any other goes back through the pool's own release."""

    __slots__ = ("_begin", "_conn", "_role", "_warm")
    _conn: PoolConnectionProxy[asyncpg.Record]

    def __init__(self, warm: WarmConnections, begin: str, role: str) -> None:
        self._warm = warm
        self._begin = begin
        self._role = role

    async def __aenter__(self) -> Connection:
        conn = await self._warm.take()
        pool = self._warm.pool
        try:
            await conn.execute(self._begin)
        except (asyncpg.InvalidParameterValueError, asyncpg.InsufficientPrivilegeError):
            try:
                await conn.execute(_ROLLBACK)
            finally:
                await pool.release(conn)
            raise UnknownRole(self._role) from None
        except BaseException:
            await pool.release(conn)
            raise
        self._conn = conn
        return conn

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        conn = self._conn
        clean = False
        try:
            await _end(conn, _COMMIT if exc_type is None else _ROLLBACK)
            # A cancelled request may leave the protocol mid-command: the pool sorts it out.
            clean = exc_type is None or issubclass(exc_type, Exception)
        finally:
            if not (clean and self._warm.keep(conn)):
                await self._warm.pool.release(conn)


async def _end(conn: Connection, sql: str) -> None:
    """COMMIT or ROLLBACK with the session reset; the reset alone when the end fails."""
    try:
        await conn.execute(sql)
    except asyncpg.PostgresError:
        if not conn.is_closed():
            await conn.execute("rollback" + _RESET)  # e.g. a deferred constraint failed
        raise


@asynccontextmanager
async def savepoint(conn: Connection) -> AsyncIterator[Connection]:
    """A savepoint inside `transaction_as`: rolled back alone when the block raises.

    (asyncpg's nested `conn.transaction()` refuses to run inside a transaction it did not
    start, which `transaction_as` is, to save round trips.)
    """
    name = f"neo_sp_{uuid.uuid4().hex}"
    await conn.execute(f"savepoint {name}")
    try:
        yield conn
    except BaseException:
        await conn.execute(f"rollback to savepoint {name}")
        raise
    await conn.execute(f"release savepoint {name}")


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
