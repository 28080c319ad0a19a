"""Real PostgreSQL for tests: one server per session, one migrated template, clones per module.

With NEO_TEST_DATABASE_URL the server is that one (e.g. the machine's PostgreSQL 15);
otherwise an embedded server is started in a temporary data dir on a free port.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from neo.app import CAPABILITIES
from neo.core.migrations import MigrationSource
from neo.core.postgres import EmbeddedPostgres
from neo.core.runtime import prepare_database
from neo.kit.net import free_port


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name`."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@contextmanager
def test_server() -> Iterator[str]:
    """Owner URL of the session's server (started here unless NEO_TEST_DATABASE_URL is set).

    The data dir is a private temp dir rather than pytest's: pytest resets the mode of its
    base dir to 0700 at each session start, which would lock out the server's own user
    (`neo-postgres` under root) when sessions overlap.
    """
    external = os.environ.get("NEO_TEST_DATABASE_URL")
    if external:
        yield external
        return
    data_dir = Path(tempfile.mkdtemp(prefix="neo-test-pg-"))
    server = EmbeddedPostgres(data_dir, host="127.0.0.1", port=free_port())
    try:
        server.ensure_initialized()
        server.start()
        yield server.socket_url()
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def migration_sources() -> list[MigrationSource]:
    return [cap.migrations for cap in CAPABILITIES if cap.migrations is not None]


async def create_template(owner_url: str) -> str:
    """A migrated database marked as template; its name."""
    name = f"neo_tpl_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(owner_url)
    try:
        await admin.execute(f'create database "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(with_database(owner_url, name))
    try:
        await prepare_database(conn, migration_sources())
    finally:
        await conn.close()
    return name


async def clone_database(owner_url: str, template: str) -> str:
    """A fresh database cloned from the template; its URL."""
    name = f"neo_t_{secrets.token_hex(5)}"
    admin = await asyncpg.connect(owner_url)
    try:
        await admin.execute(f'create database "{name}" template "{template}"')
    finally:
        await admin.close()
    return with_database(owner_url, name)


async def drop_database(owner_url: str, name: str) -> None:
    """Drop a test database, disconnecting whoever still uses it."""
    admin = await asyncpg.connect(owner_url)
    try:
        await admin.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await admin.close()
