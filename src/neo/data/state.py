"""The data API's running state: settings, the current schema cache and its reload listener.

A dedicated owner connection LISTENs on channel `pgrst` (PostgREST's); 'reload schema' (or an
empty payload) schedules a reload, debounced so a migration's many DDL statements cause one.
The new cache replaces the old one in a single assignment: requests in flight keep the
snapshot they started with. The connection is re-opened if it drops, followed by a reload.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog

from neo.core.runtime import Core, admin_url
from neo.data.errors import invalid_schema
from neo.data.schema_cache import SchemaCache, load_schema_cache
from neo.data.settings import DataSettings

log = structlog.get_logger("neo.data")
RELOAD_PAYLOADS = frozenset({"", "reload schema"})


@dataclass
class DataState:
    """What `/rest/v1` handlers read from `app.state.data`."""

    core: Core
    settings: DataSettings
    cache: SchemaCache
    version: int = 0
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    # (method, path, raw headers) -> the decoded headers and the request context (router.py)
    contexts: dict[Any, Any] = field(default_factory=dict)

    def schema_for(self, profile: str | None) -> str:
        """The schema a request targets (PGRST106 when it is not exposed)."""
        exposed = self.cache.schemas
        if profile is None:
            if not exposed:
                raise invalid_schema("public", self.settings.schemas)
            return exposed[0]
        if profile not in exposed:
            raise invalid_schema(profile, self.settings.schemas)
        return profile

    async def reload(self) -> None:
        """Load a fresh snapshot and swap it in."""
        async with self.core.db.transaction() as conn:
            # time zones do not change with DDL: the previous snapshot's list is reused
            cache = await load_schema_cache(
                conn, self.settings.schemas, timezones=self.cache.timezones
            )
        self.cache = cache
        self.version += 1
        log.info("data.schema_reloaded", version=self.version, relations=len(cache.relations))

    def request_reload(self, payload: str = "") -> None:
        """Schedule a reload (called by the listener)."""
        if payload.strip().lower() in RELOAD_PAYLOADS:
            self._wake.set()

    async def follow(self) -> None:
        """Listen for reload notices and apply them, reconnecting when needed."""
        while True:
            try:
                conn = await asyncpg.connect(admin_url(self.core.settings))
            except (OSError, asyncpg.PostgresError):
                await asyncio.sleep(1)
                continue
            try:
                await conn.add_listener("pgrst", lambda *a: self.request_reload(str(a[3])))
                await self.reload()
                while not conn.is_closed():
                    # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a
                    # cancellation that arrives as the event fires, and shutdown then hangs
                    try:
                        async with asyncio.timeout(1):
                            await self._wake.wait()
                    except TimeoutError:
                        continue
                    await asyncio.sleep(self.settings.reload_debounce)
                    self._wake.clear()
                    await self.reload()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("data.listener_failed", error=type(exc).__name__)
                await asyncio.sleep(1)
            finally:
                with contextlib.suppress(Exception):
                    await conn.close()


@asynccontextmanager
async def start(core: Core, settings: DataSettings | None) -> AsyncIterator[DataState]:
    """Load the schema cache and follow reload notices for the app's lifetime."""
    settings = settings or DataSettings()
    async with core.db.transaction() as conn:
        cache = await load_schema_cache(conn, settings.schemas)
    state = DataState(core, settings, cache)
    task = asyncio.create_task(state.follow(), name="neo.data.schema_listener")
    try:
        yield state
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
