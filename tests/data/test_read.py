"""Reads through the API: select, filters, order, pagination, counts, media types, profiles."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.data.conftest import ALICE, BOB, SERVICE, auth, user_token


async def get(client: httpx.AsyncClient, query: str, **headers: str) -> httpx.Response:
    return await client.get(f"/rest/v1/{query}", headers=headers)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("books?select=id&order=id", [{"id": i} for i in range(1, 6)]),
        ("books?select=id&id=eq.2", [{"id": 2}]),
        ("books?select=id&id=neq.2&order=id", [{"id": 1}, {"id": 3}, {"id": 4}, {"id": 5}]),
        ("books?select=id&pages=gt.300&order=id", [{"id": 1}, {"id": 4}, {"id": 5}]),
        ("books?select=id&pages=gte.304&order=id", [{"id": 1}, {"id": 4}, {"id": 5}]),
        ("books?select=id&pages=lt.264", [{"id": 2}]),
        ("books?select=id&pages=lte.264&order=id", [{"id": 2}, {"id": 3}]),
        ("books?select=id&title=like.*Dark*", [{"id": 4}]),
        ("books?select=id&title=ilike.*dark*", [{"id": 4}]),
        ("books?select=id&title=match.^K", [{"id": 3}]),
        ("books?select=id&title=imatch.^k", [{"id": 3}]),
        ("books?select=id&id=in.(1,3)&order=id", [{"id": 1}, {"id": 3}]),
        ("books?select=id&id=not.in.(1,2,3)&order=id", [{"id": 4}, {"id": 5}]),
        ('books?select=id&title=in.(Solaris,"Kindred")&order=id', [{"id": 2}, {"id": 3}]),
        ("books?select=id&id=in.()", []),
        ("books?select=id&price=is.null", [{"id": 4}]),
        ("books?select=id&price=not.is.null&order=id", [{"id": i} for i in (1, 2, 3, 5)]),
        ("books?select=id&published=is.not_null&order=id", [{"id": i} for i in (1, 2, 3, 4)]),
        ("books?select=id&price=isdistinct.9.99&order=id", [{"id": i} for i in (2, 3, 4, 5)]),
        ("books?select=id&tags=cs.{scifi,politics}", [{"id": 1}]),
        ("books?select=id&tags=cd.{scifi,gender,x}&order=id", [{"id": 2}, {"id": 4}, {"id": 5}]),
        ("books?select=id&tags=ov.{history,gender}&order=id", [{"id": 3}, {"id": 4}]),
        ('books?select=id&meta=cs.{"lang":"pl"}&order=id', [{"id": 2}, {"id": 5}]),
        ("books?select=id&during=adj.[1980,1990)&order=id", [{"id": 1}, {"id": 3}]),
        ("books?select=id&during=sl.[1970,1971)&order=id", [{"id": 2}, {"id": 4}]),
        ("books?select=id&during=sr.[1960,1961)&order=id", [{"id": 1}, {"id": 3}]),
        ("books?select=id&during=nxr.[1960,1970)&order=id", [{"id": 2}, {"id": 4}]),
        ("books?select=id&during=nxl.[1970,1980)&order=id", [{"id": 1}, {"id": 3}]),
        ("books?select=id&during=ov.[1975,1976)&order=id", [{"id": 1}, {"id": 3}]),
        ("books?select=id&title=fts.Solaris", [{"id": 2}]),
        ("books?select=id&title=fts(english).darkness", [{"id": 4}]),
        ("books?select=id&title=plfts.left hand", [{"id": 4}]),
        ("books?select=id&title=phfts(english).left hand", [{"id": 4}]),
        ("books?select=id&title=wfts.left -right", [{"id": 4}]),
        ("books?select=id&title=not.fts.solaris&order=id", [{"id": i} for i in (1, 3, 4, 5)]),
        ("books?select=id&title=like(any).{Sol*,Kin*}&order=id", [{"id": 2}, {"id": 3}]),
        ("books?select=id&title=like(all).{*a*,*i*}&order=id", [{"id": 2}, {"id": 5}]),
        ("books?select=id&id=eq(any).{1,5}&order=id", [{"id": 1}, {"id": 5}]),
        ("books?select=id&or=(id.eq.1,id.eq.2)&order=id", [{"id": 1}, {"id": 2}]),
        ("books?select=id&and=(pages.gt.250,pages.lt.310)&order=id", [{"id": 3}, {"id": 4}]),
        ("books?select=id&not.or=(id.lt.3,id.gt.4)&order=id", [{"id": 3}, {"id": 4}]),
        (
            "books?select=id&or=(id.eq.1,and(pages.gt.300,price.is.null))&order=id",
            [{"id": 1}, {"id": 4}],
        ),
        ('books?select=id&or=(title.eq."Solaris",id.eq.3)&order=id', [{"id": 2}, {"id": 3}]),
        ("books?select=id&meta->>lang=eq.pl&order=id", [{"id": 2}, {"id": 5}]),
        ("authors?select=id&profile->born=gt.1925&order=id", [{"id": 1}, {"id": 3}]),
        ("authors?select=id&profile->awards->>hugo=eq.5", [{"id": 1}]),
        ("books?select=id&id=gt.1&id=lt.3", [{"id": 2}]),
    ],
)
async def test_filters(client: httpx.AsyncClient, query: str, expected: list[Any]) -> None:
    response = await get(client, query)
    assert response.status_code == 200, response.text
    assert response.json() == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("books?select=title&id=eq.2", [{"title": "Solaris"}]),
        ("books?select=name:title&id=eq.2", [{"name": "Solaris"}]),
        ("books?select=id::text&id=eq.2", [{"id": "2"}]),
        ("books?select=p:pages::text&id=eq.2", [{"p": "204"}]),
        ("books?select=meta->lang&id=eq.2", [{"lang": "pl"}]),
        ("books?select=meta->>lang&id=eq.2", [{"lang": "pl"}]),
        ("authors?select=profile->awards->hugo&id=eq.1", [{"hugo": 5}]),
        ("authors?select=h:profile->awards->>hugo&id=eq.1", [{"h": "5"}]),
        ("books?select=meta->series&id=eq.1", [{"series": None}]),
        ("books?select=price&id=eq.1", [{"price": 9.99}]),
        ("books?select=tags,published&id=eq.1",
         [{"tags": ["scifi", "politics"], "published": "1974-05-01"}]),
        ("book_titles?select=title&id=eq.3", [{"title": "Kindred"}]),
    ],
)  # fmt: skip
async def test_select_shapes(client: httpx.AsyncClient, query: str, expected: list[Any]) -> None:
    response = await get(client, query)
    assert response.status_code == 200, response.text
    assert response.json() == expected


@pytest.mark.parametrize(
    ("order", "ids"),
    [
        ("id.desc", [5, 4, 3, 2, 1]),
        ("price.desc", [4, 3, 5, 1, 2]),
        ("price.desc.nullslast", [3, 5, 1, 2, 4]),
        ("price.asc.nullsfirst", [4, 2, 1, 5, 3]),
        ("author_id,pages.desc", [1, 4, 5, 2, 3]),
        ("meta->>lang.desc,id", [4, 2, 5, 1, 3]),
    ],
)
async def test_order(client: httpx.AsyncClient, order: str, ids: list[int]) -> None:
    response = await get(client, f"books?select=id&order={order}")
    assert response.status_code == 200, response.text
    assert [r["id"] for r in response.json()] == ids


async def test_full_body_is_postgres_json(client: httpx.AsyncClient) -> None:
    response = await get(client, "genres?order=id&limit=2")
    assert response.content == b'[{"id":1,"name":"science fiction"}, \n {"id":2,"name":"history"}]'
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.headers["content-range"] == "0-1/*"


@pytest.mark.parametrize(
    ("query", "headers", "status", "content_range", "count"),
    [
        ("books?select=id", {}, 200, "0-4/*", 5),
        ("books?select=id", {"Prefer": "count=exact"}, 200, "0-4/5", 5),
        ("books?select=id&limit=2", {"Prefer": "count=exact"}, 206, "0-1/5", 2),
        ("books?select=id&limit=2&offset=2", {"Prefer": "count=exact"}, 206, "2-3/5", 2),
        ("books?select=id&offset=4", {"Prefer": "count=exact"}, 206, "4-4/5", 1),
        ("books?select=id&offset=5", {"Prefer": "count=exact"}, 206, "*/5", 0),
        ("books?select=id&id=gt.100", {"Prefer": "count=exact"}, 200, "*/0", 0),
        ("books?select=id&id=gt.100", {}, 200, "*/*", 0),
        ("books?select=id&limit=0", {}, 200, "*/*", 0),
        ("books?select=id", {"Range": "0-1"}, 200, "0-1/*", 2),
        ("books?select=id", {"Range": "1-2", "Range-Unit": "items"}, 200, "1-2/*", 2),
        ("books?select=id", {"Range": "3-"}, 200, "3-4/*", 2),
        ("books?select=id&limit=3", {"Range": "1-10"}, 200, "1-2/*", 2),
        ("books?select=id&limit=1", {"Prefer": "count=planned"}, 206, None, 1),
        ("books?select=id&limit=1", {"Prefer": "count=estimated"}, 206, None, 1),
    ],
)
async def test_pagination_and_counts(
    client: httpx.AsyncClient,
    query: str,
    headers: dict[str, str],
    status: int,
    content_range: str | None,
    count: int,
) -> None:
    response = await get(client, query, **headers)
    assert response.status_code == status, response.text
    if content_range:
        assert response.headers["content-range"] == content_range
    assert len(response.json()) == count


async def test_offset_past_the_end_with_count_is_416(client: httpx.AsyncClient) -> None:
    response = await get(client, "books?offset=10", Prefer="count=exact")
    assert response.status_code == 416
    assert response.json()["code"] == "PGRST103"


async def test_head_has_headers_and_no_body(client: httpx.AsyncClient) -> None:
    response = await client.head("/rest/v1/books", headers={"Prefer": "count=exact"})
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-range"] == "0-4/5"


async def test_single_object(client: httpx.AsyncClient) -> None:
    accept = "application/vnd.pgrst.object+json"
    one = await get(client, "books?select=id,title&id=eq.2", Accept=accept)
    assert one.status_code == 200
    assert one.json() == {"id": 2, "title": "Solaris"}
    assert one.headers["content-type"].startswith("application/vnd.pgrst.object+json")
    many = await get(client, "books?select=id", Accept=accept)
    assert many.status_code == 406
    assert many.json() == {
        "code": "PGRST116",
        "details": "The result contains 5 rows",
        "hint": None,
        "message": "Cannot coerce the result to a single JSON object",
    }
    none = await get(client, "books?id=eq.99", Accept=accept)
    assert none.json()["details"] == "The result contains 0 rows"


async def test_strip_nulls(client: httpx.AsyncClient) -> None:
    response = await get(
        client,
        "books?select=id,price&id=eq.4",
        Accept="application/vnd.pgrst.array+json;nulls=stripped",
    )
    assert response.json() == [{"id": 4}]


async def test_csv(client: httpx.AsyncClient) -> None:
    response = await get(client, "reviews?select=id,stars,body&order=id", Accept="text/csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.text == 'id,stars,body\n1,5,great\n2,4,"good, long"\n3,5,ocean\n4,3,'


async def test_profiles(client: httpx.AsyncClient) -> None:
    response = await get(client, "items", **{"Accept-Profile": "api"})
    assert response.status_code == 200, response.text
    assert response.json() == []
    bad = await get(client, "items", **{"Accept-Profile": "auth"})
    assert bad.status_code == 406
    assert bad.json() == {
        "code": "PGRST106",
        "details": None,
        "hint": "Only the following schemas are exposed: public, api",
        "message": "Invalid schema: auth",
    }
    assert bad.headers["proxy-status"] == "PostgREST; error=PGRST106"


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("nope", 404, "PGRST205"),
        ("books?select=nope", 400, "42703"),
        ("books?nope=eq.1", 400, "42703"),
        ("books?id=eqq.1", 400, "PGRST100"),
        ("books?select=id,", 400, "PGRST100"),
        ("books?order=nope", 400, "42703"),
        ("books?limit=x", 400, "PGRST100"),
        ("books?id=eq.abc", 400, "22P02"),
        ("books?reviews.stars=eq.1", 400, "PGRST108"),
        ("books?select=*,nope(*)", 400, "PGRST200"),
        ("books?select=*,authors(*)", 300, "PGRST201"),
        ("books?select=count()", 400, "PGRST123"),
        ("secrets", 401, "42501"),
    ],
)
async def test_errors(client: httpx.AsyncClient, query: str, status: int, code: str) -> None:
    response = await get(client, query)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code
    assert set(body) == {"code", "details", "hint", "message"}
    assert response.headers["proxy-status"] == f"PostgREST; error={code}"


async def test_missing_table_message(client: httpx.AsyncClient) -> None:
    body = (await get(client, "nope")).json()
    assert body["message"] == "Could not find the table 'public.nope' in the schema cache"
    assert body["hint"] is None
    near = (await get(client, "book")).json()
    assert near["hint"] == "Perhaps you meant the table 'public.books'"


async def test_expired_jwt_is_pgrst303(client: httpx.AsyncClient) -> None:
    token = user_token(ALICE, expires_in=-100)
    response = await get(client, "books", Authorization=f"Bearer {token}")
    assert response.status_code == 401
    assert response.json()["code"] == "PGRST303"
    assert response.json()["message"] == "JWT expired"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_permission_denied_is_403_for_users(client: httpx.AsyncClient) -> None:
    response = await get(client, "secrets", **auth(ALICE))
    assert response.status_code == 403
    assert response.json()["message"] == "permission denied for table secrets"


async def test_rls_shows_only_own_rows(client: httpx.AsyncClient) -> None:
    anon = await get(client, "todos")
    assert anon.status_code == 200
    assert anon.json() == []
    alice = await get(client, "todos?select=task&order=id", **auth(ALICE))
    assert [r["task"] for r in alice.json()] == ["alice one", "alice two"]
    bob = await get(client, "todos?select=task", **auth(BOB))
    assert [r["task"] for r in bob.json()] == ["bob one"]
    service = await get(client, "todos?select=id", **SERVICE)
    assert len(service.json()) == 3


async def test_a_reused_read_still_runs_as_each_caller(client: httpx.AsyncClient) -> None:
    path = "todos?select=task&order=id"
    for _ in range(2):  # the second round reuses the statements the first one built
        alice = await get(client, path, **auth(ALICE))
        assert [r["task"] for r in alice.json()] == ["alice one", "alice two"]
        assert [r["task"] for r in (await get(client, path, **auth(BOB))).json()] == ["bob one"]
        assert (await get(client, path)).json() == []
    single = await get(client, path, Accept="application/vnd.pgrst.object+json", **auth(BOB))
    assert single.json() == {"task": "bob one"}
    counted = await get(client, path, Prefer="count=exact", **auth(ALICE))
    assert counted.headers["content-range"] == "0-1/2"
    assert (await get(client, path, **auth(ALICE))).headers["content-range"] == "0-1/*"


async def test_invalid_jwt_is_pgrst301(client: httpx.AsyncClient) -> None:
    response = await get(client, "books", Authorization="Bearer not.a.jwt")
    assert response.status_code == 401
    assert response.json()["code"] in ("PGRST301", "PGRST303")
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_unknown_role_is_401(client: httpx.AsyncClient) -> None:
    import jwt

    from tests.conftest import DEMO_JWT_SECRET

    token = jwt.encode({"role": "no_such_role"}, DEMO_JWT_SECRET)
    response = await get(client, "books", Authorization=f"Bearer {token}")
    assert response.status_code == 401
    assert response.json()["code"] == "22023"


async def test_header_pairs_given_as_lists_are_served_too(app: Any) -> None:
    """ASGI lets a server give header pairs as lists (unhashable): such a request is served
    with a context of its own."""
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/rest/v1/books", "raw_path": b"/rest/v1/books",
        "root_path": "", "query_string": b"select=id&id=eq.2", "server": ("t", 80),
        "client": ("127.0.0.1", 1), "headers": [[b"host", b"t"], [b"accept", b"*/*"]],
    }  # fmt: skip
    for _ in range(2):
        messages.clear()
        await app(scope, receive, send)
        assert messages[0]["status"] == 200
        assert messages[1]["body"] == b'[{"id":2}]'
