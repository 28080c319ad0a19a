"""Optional features: the OpenAPI root, execution plans and aggregates (off by default)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest_asyncio
from fastapi import FastAPI

from neo.settings import Settings
from tests.support.servers import asgi_client, running_app


async def test_openapi_describes_the_schema(client: httpx.AsyncClient) -> None:
    response = await client.get("/rest/v1/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openapi+json")
    doc = response.json()
    assert doc["swagger"] == "2.0"
    assert "/books" in doc["paths"]
    assert "/rpc/add" in doc["paths"]
    assert "get" not in doc["paths"]["/rpc/add_todo"]
    books = doc["definitions"]["books"]
    assert books["required"] == ["title"]
    assert books["properties"]["id"]["description"].endswith("<pk/>")
    api = (await client.get("/rest/v1/", headers={"Accept-Profile": "api"})).json()
    assert list(api["definitions"]) == ["items"]


async def test_plans_are_refused_unless_enabled(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/rest/v1/books", headers={"Accept": "application/vnd.pgrst.plan+json"}
    )
    assert response.status_code == 406
    assert response.json()["code"] == "PGRST107"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def plan_app(schema: str, make_settings: Callable[..., Settings]) -> AsyncIterator[FastAPI]:
    async with running_app(
        make_settings(
            data={
                "plan_enabled": True,
                "aggregates_enabled": True,
                "max_rows": 3,
                "tx_end": "commit-allow-override",
            }
        )
    ) as app:
        yield app


async def test_plans_when_enabled(plan_app: FastAPI) -> None:
    async with asgi_client(plan_app) as client:
        as_json = await client.get(
            "/rest/v1/books?id=eq.1", headers={"Accept": "application/vnd.pgrst.plan+json"}
        )
        assert as_json.status_code == 200, as_json.text
        assert as_json.headers["content-type"].startswith("application/vnd.pgrst.plan+json")
        assert "Plan" in json.loads(as_json.text)[0]
        analyzed = await client.delete(
            "/rest/v1/reviews?id=eq.4",
            headers={"Accept": "application/vnd.pgrst.plan; options=analyze"},
        )
        assert analyzed.status_code == 200
        assert "Delete on reviews" in analyzed.text
        still = await client.get("/rest/v1/reviews?id=eq.4")
        assert len(still.json()) == 1


async def test_aggregates_when_enabled(plan_app: FastAPI) -> None:
    async with asgi_client(plan_app) as client:
        total = await client.get("/rest/v1/books?select=count()")
        assert total.json() == [{"count": 5}]
        grouped = await client.get(
            "/rest/v1/books?select=author_id,pages.sum(),n:count()&author_id=not.is.null"
            "&order=author_id"
        )
        assert grouped.status_code == 200, grouped.text
        assert grouped.json() == [
            {"author_id": 1, "sum": 691, "n": 2},
            {"author_id": 2, "sum": 526, "n": 2},
            {"author_id": 3, "sum": 264, "n": 1},
        ]
        embedded = await client.get("/rest/v1/authors?select=name,books!author_id(count())&id=eq.1")
        assert embedded.json() == [{"name": "Ursula", "books": [{"count": 2}]}]


async def test_max_rows_caps_reads(plan_app: FastAPI) -> None:
    async with asgi_client(plan_app) as client:
        capped = await client.get("/rest/v1/books?select=id", headers={"Prefer": "count=exact"})
        assert capped.status_code == 206
        assert capped.headers["content-range"] == "0-2/5"
        assert len((await client.get("/rest/v1/books?limit=10")).json()) == 3


async def test_tx_rollback_when_allowed(plan_app: FastAPI) -> None:
    async with asgi_client(plan_app) as client:
        response = await client.post(
            "/rest/v1/genres",
            json={"id": 300, "name": "never"},
            headers={"Prefer": "tx=rollback, return=representation"},
        )
        assert response.status_code == 201
        assert response.json() == [{"id": 300, "name": "never"}]
        assert "tx=rollback" in response.headers["preference-applied"]
        assert (await client.get("/rest/v1/genres?id=eq.300")).json() == []
