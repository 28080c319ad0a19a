"""RPC through the API: named args by POST and GET, json bodies, set-returning, volatility."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.data.conftest import ALICE, auth


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("POST", "add", {"a": 1, "b": 2}, 3),
        ("POST", "add", {"a": 41}, 42),
        ("GET", "add?a=1&b=2", None, 3),
        ("GET", "add?a=5", None, 6),
        ("POST", "hello", None, "hello"),
        ("GET", "hello", None, "hello"),
        ("POST", "echo", {"payload": {"x": [1, 2]}}, {"x": [1, 2]}),
        ("POST", "echo_body", {"any": "thing"}, {"any": "thing"}),
        ("GET", "numbers?n=3", None, [1, 2, 3]),
        ("GET", "numbers?n=5&limit=2&offset=1", None, [2, 3]),
        ("POST", "books_by", {"author": "Octavia"}, [{"id": 3, "title": "Kindred"}]),
        ("GET", "books_by?author=Ursula&select=id&order=id.desc", None, [{"id": 4}, {"id": 1}]),
        ("GET", "books_by?author=Ursula&select=id&pages=lt.350", None, [{"id": 4}]),
        ("GET", "book_stats?author=eq.Octavia", None, [{"author": "Octavia", "total": 1}]),
        ("GET", "first_book?select=id,title", None, {"id": 1, "title": "The Dispossessed"}),
        ("GET", "whoami", None, "anon"),
    ],
)
async def test_calls(
    client: httpx.AsyncClient, method: str, path: str, body: Any, expected: Any
) -> None:
    response = await client.request(method, f"/rest/v1/rpc/{path}", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    if path.startswith("books_by") and method == "POST":
        data = [{"id": r["id"], "title": r["title"]} for r in data]
    assert data == expected


async def test_rpc_sees_the_caller(client: httpx.AsyncClient) -> None:
    response = await client.post("/rest/v1/rpc/whoami", headers=auth(ALICE))
    assert response.json() == ALICE


async def test_void_function_is_204(client: httpx.AsyncClient) -> None:
    response = await client.post("/rest/v1/rpc/noop")
    assert response.status_code == 204
    assert response.content == b""


async def test_volatile_function_by_get_is_405(client: httpx.AsyncClient) -> None:
    response = await client.get("/rest/v1/rpc/add_todo?task=x", headers=auth(ALICE))
    assert response.status_code == 405
    response = await client.post("/rest/v1/rpc/add_todo", json={"task": "x"}, headers=auth(ALICE))
    assert response.status_code == 200, response.text
    assert isinstance(response.json(), int)


async def test_unknown_function_is_pgrst202(client: httpx.AsyncClient) -> None:
    response = await client.post("/rest/v1/rpc/nope", json={"a": 1})
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "PGRST202"
    assert body["message"] == "Could not find the function public.nope(a) in the schema cache"
    assert body["hint"] == "Perhaps you meant to call the function public.noop"
    typo = await client.post("/rest/v1/rpc/helo")
    assert typo.json()["hint"] == "Perhaps you meant to call the function public.hello"
    wrong_args = await client.post("/rest/v1/rpc/add", json={"x": 1})
    assert wrong_args.status_code == 404
    extra = await client.get("/rest/v1/rpc/add?a=1&b=2&smthelse=blabla")
    assert (extra.status_code, extra.json()["code"]) == (404, "PGRST202")
    assert extra.json()["message"] == (
        "Could not find the function public.add(a, b, smthelse) in the schema cache"
    )


async def test_custom_sqlstate_sets_the_status(client: httpx.AsyncClient) -> None:
    response = await client.post("/rest/v1/rpc/fail", json={"msg": "no coffee"})
    assert response.status_code == 418
    assert response.json() == {
        "code": "PT418",
        "details": None,
        "hint": "teapot",
        "message": "no coffee",
    }


async def test_rpc_count_and_head(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/rest/v1/rpc/numbers?n=10&limit=3", headers={"Prefer": "count=exact"}
    )
    assert response.status_code == 206
    assert response.headers["content-range"] == "0-2/10"
    head = await client.head("/rest/v1/rpc/numbers?n=2")
    assert head.status_code == 200
    assert head.content == b""


async def test_rpc_single_object(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/rest/v1/rpc/books_by?author=Octavia&select=title",
        headers={"Accept": "application/vnd.pgrst.object+json"},
    )
    assert response.json() == {"title": "Kindred"}


async def test_role_settings_apply_per_transaction(client: httpx.AsyncClient) -> None:
    anon = await client.get("/rest/v1/rpc/timeout_setting")
    assert anon.json() == "3s"
    user = await client.get("/rest/v1/rpc/timeout_setting", headers=auth(ALICE))
    assert user.json() == "8s"


async def test_request_context_reaches_sql_as_postgrest_sets_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/rest/v1/rpc/request_info", headers={"X-Client-Info": "t/1"})
    assert response.json() == {
        "method": "GET",
        "path": "/rpc/request_info",
        "client": "t/1",
        "role": "anon",
        "search_path": '"public", "extensions"',
    }
    other = await client.post("/rest/v1/rpc/where_am_i", headers={"Content-Profile": "api"})
    assert other.json() == '"api", "extensions"'


async def test_repeated_requests_each_reach_sql_with_their_own_headers_and_method(
    client: httpx.AsyncClient,
) -> None:
    """Requests repeating the same method, path and headers share one decoded context; one
    that differs in any of them gets its own."""
    seen = []
    for client_info, method in [("t/1", "GET"), ("t/1", "GET"), ("t/2", "GET"), ("t/1", "POST")]:
        response = await client.request(
            method, "/rest/v1/rpc/request_info", headers={"X-Client-Info": client_info}
        )
        info = response.json()
        seen.append((info["client"], info["method"]))
    assert seen == [("t/1", "GET"), ("t/1", "GET"), ("t/2", "GET"), ("t/1", "POST")]
