"""`neo migrate`, `neo status`, `neo keys` and `neo check`: operations on a data dir or an
external database, with or without a running `neo start`."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from rich.console import Console
from rich.table import Table

from neo import sandbox
from neo.cli.database import embedded_server, owner_url
from neo.core import store
from neo.core.keys import KeyNotRetirable, load_keyring, retire_key, rotate_keys
from neo.core.migrations import MigrationSource, pending_migrations
from neo.core.runtime import prepare_database, public_url
from neo.settings import ConfigError, Settings

MIN_SERVER_VERSION = 150000
# Extensions Supabase projects commonly use; a dump that needs a missing one will not load.
EXPECTED_EXTENSIONS = [
    "uuid-ossp", "pgcrypto", "pg_trgm", "vector", "pg_stat_statements", "pg_graphql",
    "pgjwt", "pgsodium", "supabase_vault", "pg_net", "pg_cron", "postgis", "citext", "hstore",
]  # fmt: skip


async def _with_conn(url: str, work: Any) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await work(conn)
    finally:
        await conn.close()


def migrate(settings: Settings, sources: list[MigrationSource], console: Console) -> None:
    """Apply pending migrations."""

    async def work(conn: asyncpg.Connection) -> list[str]:
        before = [m.label for m in await pending_migrations(conn, sources)]
        await prepare_database(conn, sources)
        return before

    with owner_url(settings.core()) as url:
        applied = asyncio.run(_with_conn(url, work))
    for label in applied:
        console.print(f"applied {label}")
    console.print(f"{len(applied)} migration(s) applied; the database is up to date.")


def keys(
    settings: Settings,
    sources: list[MigrationSource],
    console: Console,
    rotate: bool,
    retire: str | None = None,
) -> None:
    """Show the key set; with `rotate`, promote the staged key and stage a new one; with
    `retire`, stop a verify-only key from verifying anything."""
    core = settings.core()

    async def work(conn: asyncpg.Connection) -> Any:
        await prepare_database(conn, sources)
        if retire:
            try:
                await retire_key(conn, core.keys.keyset, retire)
            except KeyNotRetirable as exc:
                raise ConfigError(str(exc)) from None
            console.print(f"retired key {retire}")
        if rotate:
            console.print(f"staged key {await rotate_keys(conn, core.keys.keyset)}")
        return await load_keyring(conn, core.keys, public_url=public_url(core))

    with owner_url(core) as url:
        ring = asyncio.run(_with_conn(url, work))
    # Plain lines, not a table: a table cuts keys to the terminal's width, lines keep them whole.
    names = ("anon_key", "service_key", "publishable_key", "secret_key")
    rows = [(name, str(getattr(ring, name))) for name in names]
    rows += [(f"{key.alg} {key.status}", key.kid) for key in ring.signing_keys]
    console.print(f"key set {core.keys.keyset!r}")
    for name, value in rows:
        console.print(f"  {name:<16} {value}", soft_wrap=True, markup=False, highlight=False)
    if rotate or retire:
        every = f"{core.keys.refresh_interval:g}"
        console.print(f"Running NEO processes pick up the change within {every} s.", style="dim")


def status(settings: Settings, sources: list[MigrationSource], console: Console) -> bool:
    """Print what runs; True when the API answers."""
    core = settings.core()
    table = Table(show_header=False, title="NEO status", title_justify="left")
    table.add_row("data dir", str(core.data_dir))
    state = _read_state(core.data_dir)
    if state and not _alive(state["pid"]):
        state = None  # left behind by a `neo start` that was killed
    table.add_row("neo process", f"pid {state['pid']}" if state else "not running")
    if core.db.url is None:
        pid = embedded_server(core).running_pid()
        table.add_row("embedded postgres", f"running, pid {pid}" if pid else "stopped")
    api = state["api_url"] if state else public_url(core)
    try:
        ready = httpx.get(f"{api}/ready", timeout=2).json()
        table.add_row("api", f"{api} ({ready['status']})")
        for problem in ready.get("problems", []):
            table.add_row("", problem)
        up = True
    except (httpx.HTTPError, ValueError):
        table.add_row("api", f"{api} (not answering)")
        up = False
    console.print(table)
    return up


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_state(data_dir: Path) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads((data_dir / "run" / "neo.json").read_text())
    except (OSError, ValueError):
        return None
    return state


def check(settings: Settings, console: Console) -> bool:
    """Start-up checks; True when nothing blocks NEO."""
    core = settings.core()

    async def work(conn: asyncpg.Connection) -> tuple[dict[str, Any], dict[str, str | None]]:
        return await store.select_server_facts(conn), await store.select_extensions(conn)

    with owner_url(core) as url:
        facts, extensions = asyncio.run(_with_conn(url, work))
    ok = bool(facts["version_num"] >= MIN_SERVER_VERSION)
    table = Table(title="neo check", title_justify="left")
    for column in ("check", "result", "note"):
        table.add_column(column)
    table.add_row("configuration", "ok", f"key set {core.keys.keyset!r}, data dir {core.data_dir}")
    table.add_row("postgres", "ok" if ok else "FAIL", f"{facts['version']} (needs >= 15)")
    table.add_row(
        "superuser", "ok" if facts["is_superuser"] else "warn", "roles and RLS bypass need it"
    )
    table.add_row("wal_level", "ok" if facts["wal_level"] == "logical" else "warn",
                  f"{facts['wal_level']} (realtime needs logical)")  # fmt: skip
    missing = [e for e in EXPECTED_EXTENSIONS if e not in extensions]
    table.add_row("extensions", "ok" if not missing else "warn",
                  "missing here (a dump using them will not load): " + ", ".join(missing)
                  if missing else "all common Supabase extensions available")  # fmt: skip
    shims = [e for e in ("uuid-ossp", "pgcrypto") if e in missing]
    if shims:
        table.add_row("shims", "ok", f"SQL shims stand in for parts of: {', '.join(shims)}")
    report = sandbox.probe(settings.sandbox, core.data_dir)
    sandbox_ok = report.ok or not settings.sandbox.enabled
    table.add_row("sandbox", "ok" if report.ok else "FAIL" if settings.sandbox.enabled else "off",
                  "\n".join(report.lines()))  # fmt: skip
    console.print(table)
    return ok and sandbox_ok
