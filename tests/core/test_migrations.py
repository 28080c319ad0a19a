"""The migrations runner against throw-away databases: order, bookkeeping, failures, races."""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from neo.core.migrations import (
    MigrationError,
    MigrationSource,
    apply_migrations,
    pending_migrations,
)
from tests.support.databases import drop_database, migration_sources, with_database

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def empty_url(owner_url: str) -> AsyncIterator[str]:
    """A fresh, empty database (not a template clone), dropped after the test."""
    name = f"neo_mig_{secrets.token_hex(5)}"
    admin = await asyncpg.connect(owner_url)
    try:
        await admin.execute(f'create database "{name}"')
    finally:
        await admin.close()
    yield with_database(owner_url, name)
    await drop_database(owner_url, name)


@pytest.fixture
async def conn(empty_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(empty_url)
    yield conn
    await conn.close()


def source(root: Path, capability: str, files: dict[str, str]) -> MigrationSource:
    """A migrations folder holding `files`."""
    directory = root / capability
    directory.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        (directory / name).write_text(sql, "utf-8")
    return MigrationSource(capability, directory)


async def recorded(conn: asyncpg.Connection) -> list[str]:
    """Labels of the recorded migrations, in the order they were applied."""
    rows = await conn.fetch(
        "select capability, version, name from neo_core.migrations order by applied_at"
    )
    return [f"{r['capability']}/{r['version']:04d}_{r['name']}" for r in rows]


async def advisory_locks(conn: asyncpg.Connection) -> int:
    count: int = await conn.fetchval(
        "select count(*) from pg_locks where locktype = 'advisory'"
        " and database = (select oid from pg_database where datname = current_database())"
    )
    return count


async def test_migrations_apply_in_order_and_are_recorded(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    first = source(
        tmp_path,
        "alpha",
        {
            # Named so that only numeric version order gives a working sequence.
            "0010_add_column.sql": "alter table t add column b int default 7;",
            "0002_insert.sql": "insert into t (a) values (1);",
            "0001_create.sql": "create table t (a int);",
            "README.md": "not a migration",
        },
    )
    second = source(tmp_path, "beta", {"0001_after_alpha.sql": "insert into t (a) values (2);"})

    applied = await apply_migrations(conn, [first, second])

    expected = [
        "alpha/0001_create",
        "alpha/0002_insert",
        "alpha/0010_add_column",
        "beta/0001_after_alpha",
    ]
    assert [m.label for m in applied] == expected
    assert await recorded(conn) == expected
    rows = await conn.fetch("select a, b from t order by a")
    assert [tuple(r) for r in rows] == [(1, 7), (2, 7)]
    checksums = await conn.fetch("select checksum from neo_core.migrations order by capability")
    assert {r["checksum"] for r in checksums} == {m.checksum for m in applied}
    assert await advisory_locks(conn) == 0


async def test_applying_again_does_nothing(conn: asyncpg.Connection, tmp_path: Path) -> None:
    probe = source(tmp_path, "probe", {"0001_create.sql": "create table t (a int);"})
    sources = [*migration_sources(), probe]
    first = await apply_migrations(conn, sources)

    again = await apply_migrations(conn, sources)

    assert again == []
    assert await pending_migrations(conn, sources) == []
    assert sorted(await recorded(conn)) == sorted(m.label for m in first)
    assert "probe/0001_create" in await recorded(conn)


async def test_pending_migrations_lists_what_is_left(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    probe = source(tmp_path, "probe", {"0001_create.sql": "create table t (a int);"})
    await apply_migrations(conn, [probe])
    source(tmp_path, "probe", {"0002_more.sql": "create table u (a int);"})

    pending = await pending_migrations(conn, [probe])

    assert [m.label for m in pending] == ["probe/0002_more"]
    assert await conn.fetchval("select to_regclass('u')") is None


async def test_pending_migrations_on_an_empty_database_lists_everything(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    probe = source(tmp_path, "probe", {"0001_create.sql": "create table t (a int);"})

    pending = await pending_migrations(conn, [probe])

    assert [m.label for m in pending] == ["probe/0001_create"]
    assert await conn.fetchval("select to_regclass('neo_core.migrations')") is None


async def test_a_migration_changed_after_it_was_applied_is_an_error(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    probe = source(
        tmp_path,
        "probe",
        {
            "0001_create.sql": "create table t (a int);",
            "0002_insert.sql": "insert into t values (1);",
        },
    )
    await apply_migrations(conn, [probe])
    source(
        tmp_path,
        "probe",
        {
            "0002_insert.sql": "insert into t values (2);",
            "0003_later.sql": "create table later (a int);",
        },
    )

    with pytest.raises(MigrationError, match=r"probe/0002_insert was changed after it was applied"):
        await apply_migrations(conn, [probe])
    with pytest.raises(MigrationError, match=r"probe/0002_insert"):
        await pending_migrations(conn, [probe])

    assert await recorded(conn) == ["probe/0001_create", "probe/0002_insert"]
    assert await conn.fetchval("select to_regclass('later')") is None
    assert await advisory_locks(conn) == 0


async def test_a_failing_migration_rolls_back_alone(
    conn: asyncpg.Connection, empty_url: str, tmp_path: Path
) -> None:
    probe = source(
        tmp_path,
        "probe",
        {
            "0001_create.sql": "create table t (a int);",
            "0002_broken.sql": "create table u (a int); insert into t values (1); select 1 / 0;",
            "0003_after.sql": "create table v (a int);",
        },
    )

    with pytest.raises(MigrationError, match=r"probe/0002_broken failed: division by zero"):
        await apply_migrations(conn, [probe])

    assert await recorded(conn) == ["probe/0001_create"]
    assert await conn.fetchval("select count(*) from t") == 0
    assert await conn.fetchval("select to_regclass('u')") is None
    assert await conn.fetchval("select to_regclass('v')") is None
    assert await advisory_locks(conn) == 0

    # The lock is free and the fix goes through: another connection finishes the job.
    source(tmp_path, "probe", {"0002_broken.sql": "insert into t values (1);"})
    other = await asyncpg.connect(empty_url)
    try:
        applied = await asyncio.wait_for(apply_migrations(other, [probe]), timeout=10)
    finally:
        await other.close()
    assert [m.label for m in applied] == ["probe/0002_broken", "probe/0003_after"]
    assert await conn.fetchval("select count(*) from t") == 1


@pytest.mark.parametrize(
    "name",
    ["1_short.sql", "00001_long.sql", "0001-dash.sql", "0001_Upper.sql", "0001_.sql", "abcd_x.sql"],
)
async def test_badly_named_migration_files_are_rejected(
    conn: asyncpg.Connection, tmp_path: Path, name: str
) -> None:
    probe = source(
        tmp_path, "probe", {"0001_fine.sql": "create table t (a int);", name: "select 1;"}
    )

    with pytest.raises(MigrationError, match=rf"{name}: migration files are named NNNN_title\.sql"):
        await apply_migrations(conn, [probe])

    assert await recorded(conn) == []
    assert await conn.fetchval("select to_regclass('t')") is None


async def test_two_files_with_one_version_are_rejected(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    probe = source(
        tmp_path,
        "probe",
        {"0001_one.sql": "create table t (a int);", "0001_other.sql": "create table u (a int);"},
    )

    with pytest.raises(MigrationError, match="two files share a version number"):
        await apply_migrations(conn, [probe])

    assert await recorded(conn) == []
    assert await conn.fetchval("select to_regclass('t')") is None


# Several processes migrating one database at the same moment, as several NEO instances
# starting together do. Each racer imports and connects, says "ready", and waits for "go"
# so that all attempts start together; the slow migrations keep the winner inside the lock
# while the others arrive, and each racer reports how many it applied and how long it took.
RACER = """
import asyncio, sys, time
from pathlib import Path

import asyncpg

from neo.core.migrations import MigrationSource, apply_migrations
from tests.support.databases import migration_sources


async def main(url: str, slow: str) -> None:
    sources = [*migration_sources(), MigrationSource("slow", Path(slow))]
    conn = await asyncpg.connect(url)
    try:
        print("ready", flush=True)
        sys.stdin.readline()
        started = time.monotonic()
        applied = await apply_migrations(conn, sources)
        print(len(applied), time.monotonic() - started)
    finally:
        await conn.close()


asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def start_racer(url: str, slow: Path) -> asyncio.subprocess.Process:
    racer = await asyncio.create_subprocess_exec(
        *(sys.executable, "-c", RACER, url, str(slow)),
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert racer.stdout is not None
    ready = await asyncio.wait_for(racer.stdout.readline(), timeout=60)
    assert ready == b"ready\n", (ready, await racer.stderr.read() if racer.stderr else b"")
    return racer


async def test_processes_racing_to_migrate_apply_each_migration_once(
    conn: asyncpg.Connection, empty_url: str, tmp_path: Path
) -> None:
    slow = source(
        tmp_path,
        "slow",
        {
            "0001_wait.sql": "select pg_sleep(0.5); create table slow_t (a int);",
            "0002_wait_again.sql": "select pg_sleep(0.5); insert into slow_t values (1);",
        },
    )
    sources = [*migration_sources(), slow]
    expected = sum(len(s.migrations()) for s in sources)
    racers = await asyncio.gather(*(start_racer(empty_url, slow.directory) for _ in range(3)))

    outputs = await asyncio.wait_for(
        asyncio.gather(*(racer.communicate(b"go\n") for racer in racers)), timeout=60
    )

    for racer, (_, stderr) in zip(racers, outputs, strict=True):
        assert racer.returncode == 0, stderr.decode()
        assert stderr.decode().strip() == ""
    reports = sorted(stdout.decode().split() for stdout, _ in outputs)
    assert sorted(int(count) for count, _ in reports) == [0, 0, expected]
    # Every racer spent at least part of the winner's second of slow migrations in the lock
    # wait: the attempts really overlapped.
    assert min(float(seconds) for _, seconds in reports) > 0.3
    rows = await conn.fetch("select capability, version from neo_core.migrations")
    assert len(rows) == expected
    assert len({(r["capability"], r["version"]) for r in rows}) == expected
    assert await conn.fetchval("select count(*) from slow_t") == 1
    assert await pending_migrations(conn, sources) == []


async def test_databases_of_one_server_migrate_at_the_same_time(owner_url: str) -> None:
    # Roles and their settings are cluster-wide: instances with their own databases on one
    # server touch the same catalog rows when they start together.
    names = [f"neo_mig_{secrets.token_hex(5)}" for _ in range(6)]
    admin = await asyncpg.connect(owner_url)
    try:
        for name in names:
            await admin.execute(f'create database "{name}"')
        conns = await asyncio.gather(*(asyncpg.connect(with_database(owner_url, n)) for n in names))
        try:
            results = await asyncio.gather(
                *(apply_migrations(c, migration_sources()) for c in conns), return_exceptions=True
            )
        finally:
            await asyncio.gather(*(c.close() for c in conns))
    finally:
        await admin.close()
        for name in names:
            await drop_database(owner_url, name)

    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures == []
    expected = sum(len(s.migrations()) for s in migration_sources())
    assert [len(r) for r in results if isinstance(r, list)] == [expected] * len(names)
