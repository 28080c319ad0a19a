"""Warm connections: API-pool connections kept checked out between caller transactions.

asyncpg's `Pool.acquire` + `Pool.release` cost about 14 µs of CPU per transaction (a
holder queue, a proxy, an idle timer, a shielded task and a timeout scope on release),
more than a tenth of a small `/rest/v1` read. A caller transaction that ended cleanly
(its COMMIT or ROLLBACK ran with the session reset, so nothing of it is left on the
session) hands its connection to `WarmConnections` instead, and the next transaction
takes it back with a list pop.

asyncpg's pool keeps the rest of its duties: every other end (an error while ending, a
cancelled request) releases to it, so its cleanup runs; so does every `RECYCLE`th clean
end (its max-queries and expiry checks still see each connection), and so does a warm
connection left unused for `IDLE` seconds (an idle process shrinks as the pool's own
idle timeout would have it). `close` hands every warm connection back before the pool
closes.
"""

from __future__ import annotations

import asyncio
import time
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

IDLE = 10.0  # seconds a warm connection may stay unused before it goes back to the pool
RECYCLE = 1000  # every this many clean ends, the connection goes through the pool
Proxy: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"


class WarmConnections:
    """A LIFO stack of checked-out connections of one pool (see the module docstring)."""

    def __init__(self, pool: asyncpg.Pool, *, limit: int) -> None:
        self.pool = pool
        self.limit = limit
        self._free: list[tuple[Proxy, float]] = []  # (connection, when it was kept)
        self._ends = 0
        self._closed = False
        self._timer: asyncio.TimerHandle | None = None
        self._releasing: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._free)

    async def take(self) -> Proxy:
        """The most recently kept connection, else one from the pool."""
        while self._free:
            conn = self._free.pop()[0]
            if _alive(conn):
                return conn
        fresh: Proxy = await self.pool.acquire()
        return fresh

    def keep(self, conn: Proxy) -> bool:
        """Keep a connection whose transaction ended cleanly; False when the caller must
        release it to the pool instead."""
        self._ends += 1
        if self._closed or len(self._free) >= self.limit or self._ends % RECYCLE == 0:
            return False
        self._free.append((conn, time.monotonic()))
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(IDLE, self._sweep)
        return True

    def _sweep(self) -> None:
        """Hand connections unused for `IDLE` seconds back to the pool (the oldest are at
        the bottom of the stack)."""
        self._timer = None
        cutoff = time.monotonic() - IDLE
        stale = 0
        while stale < len(self._free) and self._free[stale][1] <= cutoff:
            stale += 1
        for conn, _ in self._free[:stale]:
            task = asyncio.get_running_loop().create_task(self.pool.release(conn))
            self._releasing.add(task)
            task.add_done_callback(self._releasing.discard)
        del self._free[:stale]
        if self._free:
            self._timer = asyncio.get_running_loop().call_later(IDLE, self._sweep)

    async def close(self) -> None:
        """Hand every warm connection back to the pool (before it closes)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        free, self._free = self._free, []
        for conn, _ in free:
            await self.pool.release(conn)
        if self._releasing:
            await asyncio.gather(*self._releasing, return_exceptions=True)


def _alive(conn: Proxy) -> bool:
    """False for a connection that broke while warm: asyncpg has closed it and already put
    its slot back in the pool (the proxy is detached from it)."""
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:  # "connection has been released back to the pool"
        return False
