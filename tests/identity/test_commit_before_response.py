"""One request = one transaction, committed before the answer leaves: when the client sees
`201`, another connection already sees the row (a commit failure can no longer follow a
success answer, and a client's next request reads its own write on a real server)."""

from __future__ import annotations

import asyncpg
import httpx
from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from tests.identity.conftest import API, make_org, new_user


async def test_the_transaction_is_committed_when_the_response_starts(
    app: FastAPI, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    owner = await new_user(client)
    org = await make_org(client, owner)
    seen: list[int] = []
    count = "select count(*) from neo_identity.projects where org_id = $1"

    async def probe(scope: Scope, receive: Receive, send: Send) -> None:
        async def checking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen.append(await db.fetchval(count, org))
            await send(message)

        await app(scope, receive, checking_send)

    transport = httpx.ASGITransport(app=probe)
    async with httpx.AsyncClient(transport=transport, base_url="http://neo.test") as http:
        body = {"name": "p", "slug": "p"}
        response = await http.post(f"{API}/orgs/{org}/projects", json=body, headers=owner.headers)
    assert response.status_code == 201, response.text
    assert seen == [1]
