"""Every named query of every capability prepares against the migrated database."""

from __future__ import annotations

import importlib
from pathlib import Path

import asyncpg
import pytest

import neo
from neo.kit.sqlfile import load_named_queries, parse_named_queries

SQL_FILES = sorted(Path(neo.__file__).parent.rglob("queries.sql"))


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: str(p.parent.name))
async def test_named_queries_prepare(path: Path, database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        for name, sql in load_named_queries(path).items():
            try:
                await conn.prepare(sql)
            except asyncpg.PostgresError as exc:
                pytest.fail(f"{path}: query {name!r} does not prepare: {exc}")
    finally:
        await conn.close()


def test_store_modules_use_only_queries_that_exist() -> None:
    store = importlib.import_module("neo.core.store")
    source = Path(store.__file__).read_text()
    for name in store.QUERIES:
        assert f'QUERIES["{name}"]' in source, f"query {name!r} is never used"


def test_parser_rejects_duplicate_names() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        parse_named_queries("-- name: a\nselect 1;\n-- name: a\nselect 2;")


def test_parser_keeps_bodies_and_comments() -> None:
    queries = parse_named_queries(
        "-- header\n-- name: one\n-- why\nselect 1;\n\n-- name: two\nselect 2;"
    )
    assert queries == {"one": "-- why\nselect 1;", "two": "select 2;"}
