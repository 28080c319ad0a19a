"""The sandbox capability's SQL: `neo_sandbox.sandboxes`, from the named queries file.

Functions take a connection: the caller's (RLS decides what it sees) for API work, the
owner's for NEO's own sweeps. Driver errors become domain errors here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import asyncpg

from neo.core.db import Connection
from neo.kit.sqlfile import load_named_queries
from neo.sandbox.errors import NoSlotLeft, SandboxNameTaken
from neo.sandbox.models import Sandbox
from neo.sandbox.runtimes.base import Limits, NetworkPolicy

QUERIES = load_named_queries(Path(__file__).with_name("queries.sql"))


async def free_slot(conn: Connection, slots: int) -> int:
    """The smallest slot no sandbox holds (locked until the transaction ends)."""
    slot = await conn.fetchval(QUERIES["free_slot"], slots)
    if slot is None:
        raise NoSlotLeft()
    return int(slot)


async def lock_owner(conn: Connection, owner: str) -> None:
    """Serialise one owner's creations for the rest of the transaction (quota checks)."""
    await conn.execute(QUERIES["lock_owner"], owner)


async def count_owned(conn: Connection, org_id: str | None, owner: str | None) -> int:
    """How many sandboxes an org (when given), else a user, holds (seen past RLS)."""
    return int(await conn.fetchval(QUERIES["count_owned"], org_id, owner))


async def org_access(conn: Connection, org_id: str) -> tuple[bool, bool]:
    """Whether the caller sees the org at all, and may create sandboxes in it."""
    row = await conn.fetchrow(QUERIES["org_access"], org_id)
    return (bool(row["known"]), bool(row["writable"])) if row else (False, False)


async def insert_sandbox(
    conn: Connection,
    *,
    owner: str | None,
    name: str,
    labels: dict[str, str],
    slot: int,
    limits: Limits,
    env: dict[str, str],
    network: NetworkPolicy,
    auto_stop_minutes: int,
    auto_delete_minutes: int | None,
    org_id: str | None,
    created_by: str | None,
) -> Sandbox:
    """Insert a sandbox row (state `started`)."""
    policy = {"mode": network.mode, "allow": list(network.allow)}
    try:
        row = await conn.fetchrow(
            QUERIES["insert_sandbox"],
            owner, name, json.dumps(labels), slot, limits.cpus, limits.memory_mb,
            limits.disk_mb, limits.pids, json.dumps(env), json.dumps(policy),
            auto_stop_minutes, auto_delete_minutes, org_id, created_by,
        )  # fmt: skip
    except asyncpg.UniqueViolationError:
        raise SandboxNameTaken(f"a sandbox named {name!r} exists") from None
    return Sandbox.from_row(row)


async def select_sandbox(conn: Connection, sandbox_id: str) -> Sandbox | None:
    """One sandbox, if the connection's role may see it."""
    row = await conn.fetchrow(QUERIES["select_sandbox"], sandbox_id)
    return Sandbox.from_row(row) if row else None


async def list_sandboxes(conn: Connection, labels: dict[str, str] | None) -> list[Sandbox]:
    """Sandboxes visible to the connection's role, optionally matching labels."""
    rows = await conn.fetch(QUERIES["list_sandboxes"], json.dumps(labels) if labels else None)
    return [Sandbox.from_row(r) for r in rows]


async def update_state(conn: Connection, sandbox_id: str, state: str) -> Sandbox | None:
    """Set a sandbox's state (and its activity time)."""
    row = await conn.fetchrow(QUERIES["update_state"], sandbox_id, state)
    return Sandbox.from_row(row) if row else None


async def delete_sandbox(conn: Connection, sandbox_id: str) -> bool:
    """Delete a row; False when there was none to delete."""
    return await conn.fetchval(QUERIES["delete_sandbox"], sandbox_id) is not None


async def touch_sandbox(conn: Connection, sandbox_id: str) -> None:
    """Record activity (exec, files) so the idle sweep leaves the sandbox running."""
    await conn.execute(QUERIES["touch_sandbox"], sandbox_id)


async def touch_sandboxes(conn: Connection, sandbox_ids: list[str]) -> None:
    """Record activity of several sandboxes at once (the audit writer's batch)."""
    await conn.execute(QUERIES["touch_sandboxes"], sandbox_ids)


async def select_idle(conn: Connection) -> list[Sandbox]:
    """Running sandboxes idle for longer than their auto-stop interval."""
    return [Sandbox.from_row(r) for r in await conn.fetch(QUERIES["select_idle"])]


async def select_expired(conn: Connection) -> list[Sandbox]:
    """Stopped sandboxes past their auto-delete interval."""
    return [Sandbox.from_row(r) for r in await conn.fetch(QUERIES["select_expired"])]


async def select_all(conn: Connection) -> list[Sandbox]:
    """Every sandbox (owner connection)."""
    return [Sandbox.from_row(r) for r in await conn.fetch(QUERIES["select_all"])]


async def write_audit(conn: Connection, entries: list[dict[str, Any]]) -> int:
    """Append audit rows to identity's log in one statement (owner connection)."""
    return int(await conn.fetchval(QUERIES["write_audit"], json.dumps(entries)))
