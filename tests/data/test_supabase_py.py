"""supabase-py (postgrest-py 2.34) against a live NEO: the query builder end to end."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from postgrest.exceptions import APIError
from supabase import Client, ClientOptions, create_client

from tests.conftest import DEMO_ANON_KEY, DEMO_SERVICE_KEY
from tests.data.conftest import ALICE, BOB, user_token

MakeClient = Callable[..., Client]


@pytest.fixture(scope="module")
def client_for(schema: str, server_url: str) -> Iterator[MakeClient]:
    """Factory: supabase-py for `key`, optionally signed in with `token`."""
    opened: list[httpx.Client] = []

    def make(key: str = DEMO_ANON_KEY, token: str | None = None) -> Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        http = httpx.Client(timeout=30)
        opened.append(http)
        return create_client(server_url, key, ClientOptions(headers=headers, httpx_client=http))

    yield make
    for http in opened:
        http.close()


@pytest.fixture(scope="module")
def anon(client_for: MakeClient) -> Client:
    return client_for()


def ids(rows: list[dict[str, object]]) -> list[object]:
    return [r["id"] for r in rows]


def test_filters_through_the_builder(anon: Client) -> None:
    books = anon.table("books")
    assert books.select("id,title").eq("id", 2).execute().data == [{"id": 2, "title": "Solaris"}]
    assert ids(books.select("id").neq("id", 2).order("id").execute().data) == [1, 3, 4, 5]
    assert ids(books.select("id").gt("pages", 300).order("id").execute().data) == [1, 4, 5]
    assert ids(books.select("id").lte("pages", 264).order("id").execute().data) == [2, 3]
    assert ids(books.select("id").like("title", "%Dark%").execute().data) == [4]
    assert ids(books.select("id").ilike("title", "%dark%").execute().data) == [4]
    assert ids(books.select("id").in_("id", [1, 3]).order("id").execute().data) == [1, 3]
    assert ids(books.select("id").is_("price", "null").execute().data) == [4]
    assert ids(books.select("id").not_.is_("price", "null").order("id").execute().data) == [
        1,
        2,
        3,
        5,
    ]
    assert ids(books.select("id").contains("tags", ["scifi", "politics"]).execute().data) == [1]
    assert ids(books.select("id").overlaps("tags", ["history"]).execute().data) == [3]
    assert ids(
        books.select("id").contained_by("tags", ["scifi", "gender"]).order("id").execute().data
    ) == [2, 4, 5]
    assert ids(books.select("id").or_("id.eq.1,id.eq.2").order("id").execute().data) == [1, 2]
    assert ids(books.select("id").match({"author_id": 1, "pages": 387}).execute().data) == [1]
    assert ids(books.select("id").filter("pages", "gt", "320").order("id").execute().data) == [
        1,
        5,
    ]
    found = books.select("id").text_search("title", "left hand", options={"type": "plain"})
    assert ids(found.execute().data) == [4]
    later = books.select("id").range_gt("during", (1960, 1970)).order("id").execute().data
    assert ids(later) == [1, 3]
    assert ids(books.select("id").eq("meta->>lang", "pl").order("id").execute().data) == [2, 5]


def test_order_range_count_single(anon: Client) -> None:
    books = anon.table("books")
    desc = books.select("id").order("price", desc=True, nullsfirst=False).execute().data
    assert ids(desc) == [3, 5, 1, 2, 4]
    page = books.select("id", count="exact").order("id").range(1, 2).execute()  # type: ignore[arg-type]
    assert ids(page.data) == [2, 3]
    assert page.count == 5
    head = books.select("*", count="exact", head=True).execute()  # type: ignore[arg-type]
    assert head.count == 5
    one = books.select("title").eq("id", 3).single().execute()
    assert one.data == {"title": "Kindred"}
    maybe = books.select("title").eq("id", 99).maybe_single().execute()
    assert maybe is None or maybe.data is None
    with pytest.raises(APIError) as err:
        books.select("id").single().execute()
    assert err.value.code == "PGRST116"


def test_embedding_through_the_builder(anon: Client) -> None:
    rows = (
        anon.table("authors")
        .select("name, books!author_id(title, reviews(stars))")
        .eq("id", 2)
        .order("id", foreign_table="books")
        .execute()
        .data
    )
    assert rows == [
        {
            "name": "Stanislaw",
            "books": [
                {"title": "Solaris", "reviews": [{"stars": 5}]},
                {"title": "Fiasco", "reviews": []},
            ],
        }
    ]
    inner = (
        anon.table("books")
        .select("id, reviews!inner(stars)")
        .eq("reviews.stars", 5)
        .order("id")
        .execute()
        .data
    )
    assert ids(inner) == [1, 2]


def test_writes_with_rls(client_for: MakeClient) -> None:
    alice = client_for(token=user_token(ALICE))
    added = alice.table("todos").insert({"task": "py task"}).execute().data
    assert added[0]["user_id"] == ALICE
    assert added[0]["task"] == "py task"
    todo_id = added[0]["id"]
    updated = alice.table("todos").update({"done": True}).eq("id", todo_id).execute().data
    assert updated[0]["done"] is True
    bob = client_for(token=user_token(BOB))
    assert bob.table("todos").update({"task": "x"}).eq("id", todo_id).execute().data == []
    upserted = alice.table("todos").upsert({"id": todo_id, "task": "py upserted"}).execute()
    assert upserted.data[0]["task"] == "py upserted"
    rows = [{"task": "b1"}, {"task": "b2", "done": True}]
    with pytest.raises(APIError) as null:
        alice.table("todos").insert(rows).execute()
    assert null.value.code == "23502"  # absent keys are NULL in a bulk insert...
    bulk = alice.table("todos").insert(rows, default_to_null=False).execute()
    assert [r["done"] for r in bulk.data] == [False, True]  # ...unless missing=default
    deleted = alice.table("todos").delete().eq("id", todo_id).execute().data
    assert ids(deleted) == [todo_id]
    with pytest.raises(APIError) as err:
        alice.table("todos").insert({"task": "forged", "user_id": BOB}).execute()
    assert err.value.code == "42501"


def test_rpc_and_schemas(client_for: MakeClient, anon: Client) -> None:
    assert anon.rpc("add", {"a": 1, "b": 2}).execute().data == 3
    assert anon.rpc("numbers", {"n": 3}, get=True).execute().data == [1, 2, 3]
    found = anon.rpc("books_by", {"author": "Octavia"}).select("title").execute().data
    assert found == [{"title": "Kindred"}]
    service = client_for(DEMO_SERVICE_KEY)
    service.schema("api").table("items").upsert({"id": 7, "label": "py"}).execute()
    rows = anon.schema("api").table("items").select("label").eq("id", 7).execute().data
    assert rows == [{"label": "py"}]
    with pytest.raises(APIError) as err:
        anon.table("nope").select("*").execute()
    assert err.value.code == "PGRST205"


def test_csv(anon: Client) -> None:
    text = anon.table("genres").select("id,name").order("id").limit(2).csv().execute().data
    assert text == "id,name\n1,science fiction\n2,history"
