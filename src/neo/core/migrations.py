"""Forward-only SQL migrations, one folder per capability, applied under an advisory lock.

Files are named `NNNN_title.sql` and run in order, each in its own transaction, and are
recorded in `neo_core.migrations` with a checksum: a file changed after it was applied is an
error, not a silent skip. The lock makes two processes (or two NEO instances on one external
database) starting at once take turns; the second finds nothing left to do.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from neo.core.db import Connection

LOCK_KEY = 0x4E454F5F4D494752  # "NEO_MIGR"
_ATTEMPTS = 8
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_BOOTSTRAP = """
create schema if not exists neo_core;
revoke all on schema neo_core from public;
create table if not exists neo_core.migrations (
    capability text not null,
    version integer not null,
    name text not null,
    checksum text not null,
    applied_at timestamptz not null default now(),
    primary key (capability, version)
);
"""


class MigrationError(RuntimeError):
    """Migrations cannot be applied as they are; the message names the file."""


@dataclass(frozen=True)
class Migration:
    """One SQL file of one capability."""

    capability: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.capability}/{self.version:04d}_{self.name}"


@dataclass(frozen=True)
class MigrationSource:
    """A capability's migrations folder, registered by the composition root."""

    capability: str
    directory: Path

    def migrations(self) -> list[Migration]:
        """The folder's migrations in version order."""
        found = []
        for path in sorted(self.directory.glob("*.sql")):
            match = _FILE.match(path.name)
            if not match:
                raise MigrationError(f"{path}: migration files are named NNNN_title.sql")
            found.append(
                Migration(self.capability, int(match[1]), match[2], path.read_text("utf-8"))
            )
        versions = [m.version for m in found]
        if len(set(versions)) != len(versions):
            raise MigrationError(f"{self.directory}: two files share a version number")
        return found


async def _applied(conn: Connection) -> dict[tuple[str, int], str]:
    exists = await conn.fetchval("select to_regclass('neo_core.migrations') is not null")
    if not exists:
        return {}
    rows = await conn.fetch("select capability, version, checksum from neo_core.migrations")
    return {(r["capability"], r["version"]): r["checksum"] for r in rows}


def _pending(
    sources: list[MigrationSource], applied: dict[tuple[str, int], str]
) -> list[Migration]:
    pending = []
    for source in sources:
        for migration in source.migrations():
            checksum = applied.get((migration.capability, migration.version))
            if checksum is None:
                pending.append(migration)
            elif checksum != migration.checksum:
                raise MigrationError(f"{migration.label} was changed after it was applied")
    return pending


async def pending_migrations(conn: Connection, sources: list[MigrationSource]) -> list[Migration]:
    """Migrations not yet applied to this database (no lock taken)."""
    return _pending(sources, await _applied(conn))


async def apply_migrations(conn: Connection, sources: list[MigrationSource]) -> list[Migration]:
    """Apply every pending migration under the advisory lock; return those applied now."""
    await conn.execute("select pg_advisory_lock($1)", LOCK_KEY)
    try:
        await conn.execute(_BOOTSTRAP)
        done = []
        for migration in _pending(sources, await _applied(conn)):
            await _apply_one(conn, migration)
            done.append(migration)
        return done
    finally:
        await conn.execute("select pg_advisory_unlock($1)", LOCK_KEY)


async def _apply_one(conn: Connection, migration: Migration) -> None:
    # The advisory lock is per database, but roles live in the whole cluster: instances with
    # their own databases on one server can collide on the same catalog rows ("tuple
    # concurrently updated"). The migration's transaction rolled back, so it is retried.
    for attempt in range(_ATTEMPTS):
        try:
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "insert into neo_core.migrations (capability, version, name, checksum)"
                    " values ($1, $2, $3, $4)",
                    migration.capability,
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            return
        except asyncpg.PostgresError as exc:
            if not _transient(exc) or attempt == _ATTEMPTS - 1:
                raise MigrationError(f"{migration.label} failed: {exc}") from exc
        await asyncio.sleep(random.uniform(0.02, 0.1) * (attempt + 1))  # noqa: S311


def _transient(exc: asyncpg.PostgresError) -> bool:
    if isinstance(exc, asyncpg.SerializationError | asyncpg.DeadlockDetectedError):
        return True
    return isinstance(exc, asyncpg.InternalServerError) and "concurrently" in str(exc)
