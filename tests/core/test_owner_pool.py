"""The admin pool skips asyncpg's session reset on release (`OwnerConnection`): this holds
only while NEO's code leaves no session state behind on its connections."""

from __future__ import annotations

import re
from pathlib import Path

from neo.core.db import Database

SOURCES = Path(__file__).resolve().parents[2] / "src" / "neo"
# Session-level state a later borrower of the same connection would inherit.
SESSION_STATE = [
    re.compile(r"set_config\([^;]*?,\s*false\s*\)", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*set\s+(session\s+)?(role|search_path|statement_timeout)\b", re.I | re.M),
    re.compile(r"\bpg_advisory_lock\(", re.IGNORECASE),
    re.compile(r"\bcreate\s+temp(orary)?\s+table\b", re.IGNORECASE),
]
# Advisory locks: taken and released around migrations, on a connection of their own.
ALLOWED = {"core/migrations.py": {2}}


def test_no_code_leaves_session_state_on_a_connection() -> None:
    found = []
    for path in sorted(SOURCES.rglob("*")):
        if path.suffix not in {".py", ".sql"} or "migrations" in path.parts[-2:-1]:
            continue
        text = path.read_text()
        for index, pattern in enumerate(SESSION_STATE):
            if pattern.search(text) and index not in ALLOWED.get(
                str(path.relative_to(SOURCES)), set()
            ):
                found.append(f"{path.relative_to(SOURCES)}: {pattern.pattern}")
    assert not found, found


async def test_an_open_transaction_is_rolled_back_on_release(database_url: str) -> None:
    db = await Database.connect(
        database_url, database_url, workers=1, pool_max=2, search_path=["public"]
    )
    try:
        async with db.admin.acquire() as conn:
            await conn.execute("begin; create table leftover_probe (id int)")
        async with db.admin.acquire() as conn:
            assert not conn.is_in_transaction()
            exists = await conn.fetchval("select to_regclass('public.leftover_probe')")
            assert exists is None
            local = "begin; select set_config('neo.probe', 'x', true); commit"
            await conn.execute(local)
        async with db.admin.acquire() as conn:
            assert await conn.fetchval("select current_setting('neo.probe', true)") in ("", None)
    finally:
        await db.close()
