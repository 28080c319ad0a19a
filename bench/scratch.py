"""Shared by the benchmarks: the database a run uses.

`DATABASE_URL` when set; otherwise a fresh embedded PostgreSQL in `tmp` on a free port,
with a new database of the given name, stopped when the run ends.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

from neo.core.postgres import EmbeddedPostgres
from neo.kit.net import free_port


@contextmanager
def scratch_database(tmp: Path, name: str) -> Iterator[str]:
    """DATABASE_URL, or database `name` on a fresh embedded server under `tmp`."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    server = EmbeddedPostgres(tmp / "pg", host="127.0.0.1", port=free_port())
    server.ensure_initialized()
    server.start()
    try:
        asyncio.run(_recreate(server.socket_url(), name))
        yield server.socket_url(database=name)
    finally:
        server.stop()


async def _recreate(url: str, name: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'drop database if exists "{name}"')
        await conn.execute(f'create database "{name}"')
    finally:
        await conn.close()
