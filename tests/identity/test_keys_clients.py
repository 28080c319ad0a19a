"""A `neo_sk_` key in the official client: supabase-py created with the key reads an app table
through /rest/v1 (its RLS policy uses `neo.is_org_member` and `neo.has_scope`) and sees its own
org's rows only; a key without the scope sees none; a revoked key is refused."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import asyncpg
import httpx
import pytest
from postgrest.exceptions import APIError
from supabase import ClientOptions, create_client

from neo.settings import Settings
from tests.auth.conftest import auth_settings
from tests.identity.conftest import SERVICE, Key, call, make_key, make_org, new_user, ok
from tests.support.servers import live_server

NOTES = """
create table public.org_notes (org_id uuid not null, body text not null);
alter table public.org_notes enable row level security;
create policy notes_read on public.org_notes for select
    using (neo.is_org_member(org_id) and neo.has_scope('notes:read'));
grant select on public.org_notes to authenticated;
"""


@pytest.fixture(scope="module")
def server_url(make_settings: Callable[..., Settings]) -> Iterator[str]:
    with live_server(make_settings(auth=auth_settings())) as url:
        yield url


def read_notes(server_url: str, key: Key) -> list[str]:
    """The note bodies supabase-py, created with the key, reads."""
    with httpx.Client() as http:
        client = create_client(server_url, key.secret, ClientOptions(httpx_client=http))
        rows = client.table("org_notes").select("body").order("body").execute().data
        return [str(row["body"]) for row in rows]


async def test_supabase_py_with_a_key_reads_only_its_org(
    server_url: str, database_url: str
) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        org_a = await make_org(http, await new_user(http))
        org_b = await make_org(http, await new_user(http))
        reader = await make_key(http, org_a, ["notes:read"])
        blind = await make_key(http, org_a, ["org:read"])
        other = await make_key(http, org_b, ["notes:read"])
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(NOTES)
            await conn.execute(
                "insert into public.org_notes values ($1, 'a1'), ($1, 'a2'), ($2, 'b1')",
                org_a,
                org_b,
            )
            await conn.execute("NOTIFY pgrst, 'reload schema'")
        finally:
            await conn.close()
        for _ in range(200):  # the schema cache reloads on the notification
            probe = await http.get("/rest/v1/org_notes", headers=reader.headers)
            if probe.status_code == 200:
                break
            await asyncio.sleep(0.05)
        assert probe.status_code == 200, probe.text
        assert await asyncio.to_thread(read_notes, server_url, reader) == ["a1", "a2"]
        assert await asyncio.to_thread(read_notes, server_url, other) == ["b1"]
        assert await asyncio.to_thread(read_notes, server_url, blind) == []
        path = f"/orgs/{org_a}/service-accounts/{reader.account_id}/keys/{reader.id}"
        await ok(await call(http, "DELETE", path, SERVICE))
        with pytest.raises(APIError) as refused:
            await asyncio.to_thread(read_notes, server_url, reader)
        assert str(refused.value.code) in ("401", "PGRST301")
