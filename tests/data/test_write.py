"""Writes through the API: insert, bulk, upsert, update, delete, Prefer, RLS on writes."""

from __future__ import annotations

import httpx
import pytest

from tests.data.conftest import ALICE, BOB, SERVICE, auth

REP = {"Prefer": "return=representation"}


async def test_insert_minimal_is_201_without_body(client: httpx.AsyncClient) -> None:
    response = await client.post("/rest/v1/genres", json={"id": 10, "name": "poetry"})
    assert response.status_code == 201, response.text
    assert response.content == b""
    assert response.headers["content-range"] == "*/*"


async def test_insert_representation(client: httpx.AsyncClient) -> None:
    response = await client.post("/rest/v1/genres", json={"id": 11, "name": "drama"}, headers=REP)
    assert response.status_code == 201
    assert response.json() == [{"id": 11, "name": "drama"}]
    assert response.headers["preference-applied"] == "return=representation"


async def test_insert_single_object_with_select(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/rest/v1/books?select=title,author:authors!author_id(name)",
        json={"title": "The Word for World Is Forest", "author_id": 1},
        headers=REP | {"Accept": "application/vnd.pgrst.object+json"},
    )
    assert response.status_code == 201, response.text
    assert response.json() == {
        "title": "The Word for World Is Forest",
        "author": {"name": "Ursula"},
    }


async def test_insert_uses_defaults_for_absent_keys(client: httpx.AsyncClient) -> None:
    response = await client.post("/rest/v1/books?select=tags", json={"title": "x"}, headers=REP)
    assert response.json() == [{"tags": []}]


async def test_bulk_insert_is_one_statement(client: httpx.AsyncClient) -> None:
    rows = [{"id": 20, "name": "a"}, {"id": 21, "name": "b"}]
    response = await client.post("/rest/v1/genres", json=rows, headers=REP)
    assert response.status_code == 201
    assert [r["id"] for r in response.json()] == [20, 21]
    failing = [{"id": 22, "name": "c"}, {"id": 22, "name": "dup"}]
    response = await client.post("/rest/v1/genres", json=failing)
    assert response.status_code == 409
    assert response.json()["code"] == "23505"
    assert (await client.get("/rest/v1/genres?id=eq.22")).json() == []


async def test_columns_param_and_missing_default(client: httpx.AsyncClient) -> None:
    rows = [{"title": "c1", "pages": 1}, {"title": "c2"}]
    nulls = await client.post(
        '/rest/v1/books?columns="title","pages","tags"&select=title,pages,tags',
        json=rows,
        headers=REP,
    )
    assert nulls.status_code == 400  # tags is NOT NULL and absent keys become NULL
    defaults = await client.post(
        '/rest/v1/books?columns="title","pages","tags"&select=title,pages,tags',
        json=rows,
        headers={"Prefer": "return=representation,missing=default"},
    )
    assert defaults.status_code == 201, defaults.text
    assert defaults.json() == [
        {"title": "c1", "pages": 1, "tags": []},
        {"title": "c2", "pages": None, "tags": []},
    ]


async def test_bulk_with_different_keys_needs_columns(client: httpx.AsyncClient) -> None:
    response = await client.post("/rest/v1/genres", json=[{"id": 30}, {"name": "x"}])
    assert response.status_code == 400
    assert response.json()["code"] == "PGRST102"


@pytest.mark.parametrize(
    ("body", "code"),
    [(b"", "PGRST102"), (b"{", "PGRST102"), (b"[1,2]", "PGRST102"), (b"3", "PGRST102")],
)
async def test_invalid_bodies(client: httpx.AsyncClient, body: bytes, code: str) -> None:
    response = await client.post(
        "/rest/v1/genres", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == code


async def test_unknown_column_is_pgrst204(client: httpx.AsyncClient) -> None:
    response = await client.post("/rest/v1/genres", json={"id": 40, "nope": 1})
    assert response.status_code == 400
    assert response.json() == {
        "code": "PGRST204",
        "details": None,
        "hint": None,
        "message": "Could not find the 'nope' column of 'genres' in the schema cache",
    }


async def test_upsert_merge_and_ignore(client: httpx.AsyncClient) -> None:
    await client.post("/rest/v1/genres", json={"id": 50, "name": "old"})
    merge = await client.post(
        "/rest/v1/genres",
        json=[{"id": 50, "name": "new"}, {"id": 51, "name": "fresh"}],
        headers={"Prefer": "resolution=merge-duplicates, return=representation"},
    )
    assert merge.status_code == 201, merge.text
    assert merge.json() == [{"id": 50, "name": "new"}, {"id": 51, "name": "fresh"}]
    ignore = await client.post(
        "/rest/v1/genres",
        json={"id": 50, "name": "ignored"},
        headers={"Prefer": "resolution=ignore-duplicates,return=representation"},
    )
    assert ignore.json() == []
    on_name = await client.post(
        "/rest/v1/genres?on_conflict=name",
        json={"id": 52, "name": "new"},
        headers={"Prefer": "resolution=ignore-duplicates,return=representation"},
    )
    assert on_name.status_code == 201
    assert on_name.json() == []


async def test_headers_only_gives_location(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/rest/v1/genres", json={"id": 60, "name": "loc"}, headers={"Prefer": "return=headers-only"}
    )
    assert response.status_code == 201
    assert response.headers["location"] == "/genres?id=eq.60"


async def test_patch_and_delete(client: httpx.AsyncClient) -> None:
    await client.post("/rest/v1/genres", json=[{"id": 70, "name": "p1"}, {"id": 71, "name": "p2"}])
    patched = await client.patch(
        "/rest/v1/genres?id=in.(70,71)", json={"name": "same"}, headers=REP
    )
    assert patched.status_code == 409  # name is unique
    patched = await client.patch("/rest/v1/genres?id=eq.70", json={"name": "p3"}, headers=REP)
    assert patched.status_code == 200
    assert patched.json() == [{"id": 70, "name": "p3"}]
    minimal = await client.patch("/rest/v1/genres?id=eq.71", json={"name": "p4"})
    assert minimal.status_code == 204
    assert minimal.headers["content-range"] == "0-0/*"
    deleted = await client.delete("/rest/v1/genres?id=in.(70,71)", headers=REP)
    assert deleted.status_code == 200
    assert sorted(r["name"] for r in deleted.json()) == ["p3", "p4"]
    gone = await client.delete("/rest/v1/genres?id=eq.70")
    assert gone.status_code == 204
    assert gone.headers["content-range"] == "*/*"


async def test_patch_with_empty_object_changes_nothing(client: httpx.AsyncClient) -> None:
    response = await client.patch("/rest/v1/genres?id=eq.1", json={}, headers=REP)
    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
async def test_unfiltered_writes_are_refused(client: httpx.AsyncClient, method: str) -> None:
    body = b'{"name":"x"}' if method == "PATCH" else None
    response = await client.request(method, "/rest/v1/genres", content=body)
    assert response.status_code == 400
    verb = "UPDATE" if method == "PATCH" else "DELETE"
    assert response.json() == {
        "code": "21000",
        "details": None,
        "hint": None,
        "message": f"{verb} requires a WHERE clause",
    }


async def test_count_on_writes(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/rest/v1/genres",
        json=[{"id": 80, "name": "c80"}, {"id": 81, "name": "c81"}],
        headers={"Prefer": "count=exact"},
    )
    assert response.headers["content-range"] == "*/2"
    deleted = await client.delete("/rest/v1/genres?id=gte.80", headers={"Prefer": "count=exact"})
    assert deleted.headers["content-range"] == "0-1/2"


async def test_max_affected_strict_rolls_back(client: httpx.AsyncClient) -> None:
    await client.post(
        "/rest/v1/genres", json=[{"id": 90, "name": "m90"}, {"id": 91, "name": "m91"}]
    )
    response = await client.delete(
        "/rest/v1/genres?id=gte.90", headers={"Prefer": "handling=strict, max-affected=1"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "PGRST124"
    assert len((await client.get("/rest/v1/genres?id=gte.90")).json()) == 2


async def test_strict_handling_rejects_unknown_preferences(client: httpx.AsyncClient) -> None:
    response = await client.get("/rest/v1/genres", headers={"Prefer": "handling=strict, foo=bar"})
    assert response.status_code == 400
    assert response.json()["code"] == "PGRST122"


async def test_single_object_write_with_many_rows_rolls_back(client: httpx.AsyncClient) -> None:
    await client.post(
        "/rest/v1/genres", json=[{"id": 95, "name": "s95"}, {"id": 96, "name": "s96"}]
    )
    response = await client.patch(
        "/rest/v1/genres?id=gte.95",
        json={"name": None},
        headers=REP | {"Accept": "application/vnd.pgrst.object+json"},
    )
    assert response.status_code in (400, 406)
    names = {r["name"] for r in (await client.get("/rest/v1/genres?id=gte.95")).json()}
    assert names == {"s95", "s96"}


async def test_tx_rollback_is_ignored_unless_allowed(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/rest/v1/genres",
        json={"id": 97, "name": "tx"},
        headers={"Prefer": "tx=rollback,return=representation"},
    )
    assert response.status_code == 201
    assert len((await client.get("/rest/v1/genres?id=eq.97")).json()) == 1


async def test_rls_on_writes(client: httpx.AsyncClient) -> None:
    mine = await client.post(
        "/rest/v1/todos", json={"task": "alice three"}, headers=auth(ALICE) | REP
    )
    assert mine.status_code == 201, mine.text
    assert mine.json()[0]["user_id"] == ALICE
    forged = await client.post(
        "/rest/v1/todos", json={"task": "forged", "user_id": BOB}, headers=auth(ALICE)
    )
    assert forged.status_code == 403
    assert forged.json()["code"] == "42501"
    assert "row-level security" in forged.json()["message"]
    anon = await client.post("/rest/v1/todos", json={"task": "anon"})
    assert anon.status_code == 401
    hijack = await client.patch(
        "/rest/v1/todos?task=eq.bob one", json={"task": "pwned"}, headers=auth(ALICE) | REP
    )
    assert hijack.status_code == 200
    assert hijack.json() == []
    remove = await client.delete("/rest/v1/todos?task=eq.bob one", headers=auth(ALICE) | REP)
    assert remove.json() == []
    bob = await client.get("/rest/v1/todos?select=task", headers=auth(BOB))
    assert bob.json() == [{"task": "bob one"}]


async def test_insert_only_policy_minimal_vs_representation(client: httpx.AsyncClient) -> None:
    minimal = await client.post("/rest/v1/drop_box", json={"note": "hi"}, headers=auth(ALICE))
    assert minimal.status_code == 201, minimal.text
    rep = await client.post("/rest/v1/drop_box", json={"note": "hi"}, headers=auth(ALICE) | REP)
    assert rep.status_code == 403
    assert rep.json()["code"] == "42501"
    seen = await client.get("/rest/v1/drop_box", headers=SERVICE)
    assert len(seen.json()) == 1


async def test_profile_writes(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/rest/v1/items",
        json={"id": 1, "label": "x"},
        headers={"Content-Profile": "api"} | REP,
    )
    assert response.status_code == 201, response.text
    missing = await client.post("/rest/v1/items", json={"id": 2})
    assert missing.status_code == 404
    assert missing.json()["code"] == "PGRST205"


async def test_trace_is_not_supported(client: httpx.AsyncClient) -> None:
    response = await client.request("TRACE", "/rest/v1/genres")
    assert response.status_code == 405
    assert response.json()["code"] == "PGRST117"


async def test_limited_patch_and_delete_touch_the_first_rows(client: httpx.AsyncClient) -> None:
    rows = [{"book_id": 5, "stars": 1} for _ in range(5)]
    added = await client.post("/rest/v1/reviews?select=id", json=rows, headers=REP)
    ids = [r["id"] for r in added.json()]
    patched = await client.patch(
        "/rest/v1/reviews?book_id=eq.5&order=id.desc&limit=2", json={"stars": 2}, headers=REP
    )
    assert sorted(r["id"] for r in patched.json()) == ids[3:]
    deleted = await client.delete("/rest/v1/reviews?book_id=eq.5&order=id&limit=2", headers=REP)
    assert sorted(r["id"] for r in deleted.json()) == ids[:2]
    left = await client.get("/rest/v1/reviews?select=id,stars&book_id=eq.5&order=id")
    assert left.json() == [{"id": ids[2], "stars": 1}, {"id": ids[3], "stars": 2},
                           {"id": ids[4], "stars": 2}]  # fmt: skip


async def test_options_lists_the_methods(client: httpx.AsyncClient) -> None:
    response = await client.options("/rest/v1/genres")
    assert response.status_code == 200
    assert response.headers["allow"] == "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"
