"""Fixtures of the core's key-ring tests: a connection to the module's database and a key
set no other test uses (the module shares one database)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import asyncpg
import pytest


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


@pytest.fixture
def keyset() -> str:
    return f"ks-{secrets.token_hex(4)}"
