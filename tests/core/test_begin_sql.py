"""`begin_as_sql`: the BEGIN of a caller's transaction, with parts cached across requests,
is exactly the statement built from scratch each time, and PostgreSQL reads it back."""

from __future__ import annotations

import json
from collections.abc import Mapping

import asyncpg
import pytest

from neo.core.actor import Actor, RequestContext
from neo.core.db import begin_as_sql, literal

CLAIMS = {"sub": "u-1", "role": "authenticated", "aud": "authenticated", "note": "it's \\ ok"}
REQUEST = RequestContext(method="GET", path="/t", headers={"accept": "*/*", "x": "a'b"})


def from_scratch(
    actor: Actor,
    request: RequestContext,
    search_path: str,
    readonly: bool,
    settings: Mapping[str, str],
) -> str:
    """The statement as defined: every setting in order, `settings` overriding in place."""
    pairs = {
        "role": actor.role,
        "request.jwt.claims": json.dumps(actor.claims, separators=(",", ":")),
        "request.method": request.method,
        "request.path": request.path,
        "request.headers": json.dumps(request.headers, separators=(",", ":")),
        "search_path": search_path,
    } | dict(settings)
    calls = ", ".join(f"set_config({literal(k)}, {literal(v)}, true)" for k, v in pairs.items())
    return ("begin read only" if readonly else "begin") + "; select " + calls


SETTINGS: list[dict[str, str]] = [
    {},
    {"statement_timeout": "5s"},
    {"search_path": '"api", "public"', "statement_timeout": "1s"},
    {"statement_timeout": "1s", "search_path": '"api"', "timezone": "Europe/Paris"},
    {"role": "someone_else"},  # a role's `ALTER ROLE … SET role`: overrides in place
    {"request.method": "POST", "plan_filter.statement_cost_limit": "10"},
]


@pytest.mark.parametrize("settings", SETTINGS)
@pytest.mark.parametrize("readonly", [False, True])
def test_same_statement_as_built_from_scratch(settings: dict[str, str], readonly: bool) -> None:
    actor = Actor(role="authenticated", claims=CLAIMS, credential="jwt")
    for _ in range(2):  # the second time from the caches
        built = begin_as_sql(
            actor, REQUEST, search_path='"public"', readonly=readonly, settings=settings
        )
        assert built == from_scratch(actor, REQUEST, '"public"', readonly, settings)


def test_cached_parts_follow_the_actor_and_the_settings() -> None:
    shared = dict(CLAIMS)
    first = Actor(role="authenticated", claims=shared)
    same_claims_other_role = Actor(role="anon", claims=shared)
    equal_claims = Actor(role="authenticated", claims=dict(CLAIMS, sub="u-2"))
    for actor in (first, same_claims_other_role, equal_claims, first):
        for settings in ({"statement_timeout": "1s"}, {"statement_timeout": "2s"}):
            built = begin_as_sql(
                actor, REQUEST, search_path='"x"', readonly=False, settings=settings
            )
            assert built == from_scratch(actor, REQUEST, '"x"', False, settings)


async def test_postgres_reads_every_setting_back(owner_url: str) -> None:
    settings = {"search_path": '"pg_catalog"', "statement_timeout": "7s"}
    conn = await asyncpg.connect(owner_url)
    try:
        me = await conn.fetchval("select current_user")
        actor = Actor(role=me, claims={"role": me, "quote": "a'b\\c\x00d"})
        for _ in range(2):
            await conn.execute(
                begin_as_sql(actor, REQUEST, search_path='"x"', readonly=True, settings=settings)
            )
            row = await conn.fetchrow(
                "select current_setting('request.jwt.claims') as claims,"
                " current_setting('request.headers') as headers,"
                " current_setting('statement_timeout') as timeout,"
                " current_setting('search_path') as path, current_setting('role') as role"
            )
            await conn.execute("rollback")
            assert row is not None
            assert json.loads(row["claims"]) == actor.claims
            assert json.loads(row["headers"]) == REQUEST.headers
            assert (row["timeout"], row["path"], row["role"]) == ("7s", '"pg_catalog"', me)
    finally:
        await conn.close()
