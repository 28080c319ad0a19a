"""The core's running state: database pools, keys, gateway and metrics of one process.

`start_core` is called from the app's lifespan: it migrates the database (under the advisory
lock), prepares the `authenticator` login, retires expired keys and loads the key set, opens
the pools and starts the key refresh (`key_refresh`: every `keys.refresh_interval` seconds,
stopped by `Core.close`). Nothing here is a module-level singleton; the `Core` object travels
on `app.state.core`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from neo.core import store
from neo.core.db import Connection, Database
from neo.core.errors import Dialects
from neo.core.gateway import Gateway
from neo.core.key_refresh import reload_signing_keys, retire_expired_keys, uses_stored_keys
from neo.core.keys import KeyRing, load_keyring
from neo.core.logging import get_logger
from neo.core.metrics import Metrics
from neo.core.migrations import MigrationSource, apply_migrations, pending_migrations
from neo.core.settings import CoreSettings

_PASSWORD_ATTEMPTS = 8
CORE_MIGRATIONS = MigrationSource("core", Path(__file__).with_name("migrations"))
log = get_logger("neo.core")


class NotConfigured(RuntimeError):
    """The app was created without a database URL (use `neo start`, or set DATABASE_URL)."""


@dataclass
class Core:
    """What every capability receives from the core at start."""

    settings: CoreSettings
    db: Database
    keys: KeyRing
    gateway: Gateway
    metrics: Metrics
    dialects: Dialects
    migration_sources: list[MigrationSource] = field(default_factory=list)
    _refresher: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def public_url(self) -> str:
        return public_url(self.settings)

    async def ready(self) -> list[str]:
        """Problems that make this process not ready (empty list: ready)."""
        try:
            async with self.db.admin.acquire(timeout=2) as conn:
                await store.ping(conn)
                pending = await pending_migrations(conn, self.migration_sources)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            return [f"database unreachable: {type(exc).__name__}"]
        return [f"migration pending: {m.label}" for m in pending]

    async def refresh_keys(self) -> None:
        """Retire expired keys, then take the key set's live keys if they changed (one run of
        what the background refresh does every `keys.refresh_interval` seconds)."""
        if not uses_stored_keys(self.settings):
            return
        async with self.db.admin.acquire() as conn:
            await retire_expired_keys(conn, self.settings)
            ring = await reload_signing_keys(conn, self.keys, self.settings.keys.keyset)
        if ring is not None:
            self.keys = ring
            self.gateway.use_keys(ring)

    def start_key_refresh(self) -> None:
        """Run `refresh_keys` every `keys.refresh_interval` seconds until `close`."""
        if uses_stored_keys(self.settings) and self._refresher is None:
            self._refresher = asyncio.create_task(self._refresh_forever(), name="neo.core.keys")

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.keys.refresh_interval)
            try:
                await self.refresh_keys()
            except Exception:  # the database is away: keep the ring, try again later
                log.exception("core.keys_refresh_failed")

    async def close(self) -> None:
        """Stop the key refresh and close the pools."""
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        await self.db.close()


def public_url(settings: CoreSettings) -> str:
    """The base URL clients use."""
    return settings.api.public_url or f"http://{settings.api.host}:{settings.api.port}"


def admin_url(settings: CoreSettings) -> str:
    """The owner connection URL; NotConfigured when none was given."""
    if settings.db.url is None:
        raise NotConfigured("no database URL: run `neo start`, or set DATABASE_URL")
    return settings.db.url.get_secret_value()


async def prepare_database(conn: Connection, sources: list[MigrationSource]) -> str:
    """Apply migrations and make sure an `authenticator` password is stored; return it."""
    await apply_migrations(conn, sources)
    await store.insert_secret(
        conn, store.CLUSTER_SCOPE, "authenticator_password", secrets.token_urlsafe(32)
    )
    return (await store.select_secrets(conn, store.CLUSTER_SCOPE))["authenticator_password"]


async def ensure_api_login(conn: Connection, api_url: str, password: str) -> None:
    """Give `authenticator` the stored password, unless it can log in already.

    Logging in first keeps instances that share the database from rewriting the role on every
    start. The role is cluster-wide: PostgreSQL fails a concurrent ALTER ROLE with "tuple
    concurrently updated" instead of waiting, so that one is retried.
    """
    try:
        probe = await asyncpg.connect(api_url)
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError):
        pass
    else:
        await probe.close()
        return
    for attempt in range(_PASSWORD_ATTEMPTS):
        try:
            await store.set_authenticator_password(conn, password)
            return
        except asyncpg.InternalServerError as exc:
            if "concurrently" not in str(exc) or attempt == _PASSWORD_ATTEMPTS - 1:
                raise
        await asyncio.sleep(random.uniform(0.02, 0.1) * (attempt + 1))  # noqa: S311


def authenticator_url(owner_url: str, password: str) -> str:
    """The owner URL with the user and password replaced by authenticator's."""
    parts = urlsplit(owner_url)
    host = parts.netloc.rpartition("@")[2]
    netloc = f"authenticator:{quote(password, safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


async def start_core(
    settings: CoreSettings,
    sources: list[MigrationSource],
    dialects: Dialects,
    *,
    metrics: Metrics,
) -> Core:
    """Migrate, load keys, open pools: everything a request will need."""
    owner = admin_url(settings)
    conn = await asyncpg.connect(owner)
    try:
        password = await prepare_database(conn, sources)
        await retire_expired_keys(conn, settings)
        keys = await load_keyring(conn, settings.keys, public_url=public_url(settings))
        if settings.db.api_url is not None:
            api = settings.db.api_url.get_secret_value()
        else:
            api = authenticator_url(owner, password)
            await ensure_api_login(conn, api, password)
    finally:
        await conn.close()
    db = await Database.connect(
        owner,
        api,
        workers=settings.api.workers,
        pool_max=settings.db.pool_max,
        search_path=settings.db.exposed_search_path,
    )
    metrics.watch_pools(
        lambda: {
            "admin": (db.admin.get_size(), db.admin.get_idle_size()),
            # warm connections (core.warm) are checked out of the pool but idle
            "api": (db.api.get_size(), db.api.get_idle_size() + len(db.warm)),
        }
    )
    core = Core(settings, db, keys, Gateway(keys, settings.gateway), metrics, dialects, sources)
    core.start_key_refresh()
    return core
