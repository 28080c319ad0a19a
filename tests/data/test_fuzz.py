"""Hypothesis throws random query strings, headers and bodies at a live NEO.

Whatever comes in: never a 5xx, never a SQL syntax error (an identifier or value that reached
SQL unquoted), and never a row that RLS hides from the caller (Bob's todo, as Alice or anon).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.data.conftest import ALICE, BOB, SERVICE, user_token

TABLES = ["todos", "books", "authors", "reviews", "book_titles", "genres", "nope", "rpc/whoami",
          "rpc/add", "rpc/numbers", "rpc/books_by", 'to"dos', "todos;drop table books"]  # fmt: skip
KEYS = ["select", "order", "limit", "offset", "id", "task", "user_id", "done", "or", "and",
        "not.or", "reviews.stars", "reviews.order", "authors.name", "columns", "on_conflict",
        "a", "b", "n", "author", 'ta"sk', "meta->>lang", "x;y", "meta->99999999999"]  # fmt: skip
VALUES = ["*", "id,task", "id.desc", "1", "eq.1", "neq.x", "in.(1,2)", "is.null", "not.is.null",
          "like.*o*", "ilike.*B*", "cs.{a}", "fts.bob", "(id.eq.1,task.eq.bob one)",
          "*,reviews(*)", "*,authors!inner(*)", "task,user_id", 'id::text,"x":task',
          "gt.2147483648", "eq.'; drop table todos; --", '"a","b"', "task.nullsfirst",
          "user_id=eq." + BOB, "eq." + BOB, "...authors(name)", "count()", "-1", "eq.",
          "99999999999999999999", "eq.\x00", "*,todos(*)", "id,reviews!inner(id)"]  # fmt: skip
PREFER = ["return=representation", "count=exact", "count=planned", "count=estimated",
          "resolution=merge-duplicates", "resolution=ignore-duplicates", "missing=default",
          "tx=rollback", "handling=strict", "max-affected=1", "return=headers-only",
          "x=y", "timezone=Asia/Tokyo", "timezone=Mars/Base"]  # fmt: skip
ACCEPT = ["application/json", "application/vnd.pgrst.object+json", "text/csv", "*/*",
          "application/vnd.pgrst.plan+json", "text/html",
          "application/vnd.pgrst.array+json;nulls=stripped", "text/plain",
          "application/octet-stream", "application/geo+json"]  # fmt: skip

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
params = st.lists(st.tuples(st.sampled_from(KEYS) | text, st.sampled_from(VALUES) | text),
                  max_size=5)  # fmt: skip
headers = st.fixed_dictionaries(
    {},
    optional={
        "Prefer": st.lists(st.sampled_from(PREFER), max_size=3).map(", ".join),
        "Accept": st.sampled_from(ACCEPT)
        | st.text(st.characters(min_codepoint=32, max_codepoint=126)).map(str.strip),
        "Range": st.sampled_from(["0-1", "1-", "5-2", "x"]),
        "Accept-Profile": st.sampled_from(["public", "api", "auth", "nope"]),
        "Content-Profile": st.sampled_from(["public", "api", "storage"]),
        "Content-Type": st.sampled_from(
            ["application/json", "text/csv", "application/x-www-form-urlencoded", "text/plain"]
        ),
    },
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
)
bodies = st.one_of(
    st.just(b""),
    st.binary(max_size=20),
    st.fixed_dictionaries(
        {},
        optional={
            "task": text,
            "user_id": st.just(BOB),
            "done": st.booleans(),
            "id": st.integers(1, 4),
            "a": st.integers(0, 9),
        },
    ).map(json.dumps),
    json_values.map(json.dumps),
).map(lambda b: b if isinstance(b, bytes) else b.encode())


@pytest.fixture(scope="module")
def http(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url + "/rest/v1", timeout=30) as client:
        yield client


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    method=st.sampled_from(["GET", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]),
    table=st.sampled_from(TABLES),
    query=params,
    extra=headers,
    body=bodies,
    as_alice=st.booleans(),
)
def test_random_requests_never_fail_or_leak(
    http: httpx.Client,
    method: str,
    table: str,
    query: list[tuple[str, str]],
    extra: dict[str, str],
    body: bytes,
    as_alice: bool,
) -> None:
    auth = {"Authorization": f"Bearer {user_token(ALICE)}"} if as_alice else {}
    content = body if method in ("POST", "PUT", "PATCH") else None
    response = http.request(method, f"/{table}", params=query, headers=extra | auth,
                            content=content)  # fmt: skip
    assert response.status_code < 500, (response.status_code, response.text)
    if (
        response.status_code >= 400
        and response.content
        and "json" in response.headers.get("content-type", "")
    ):
        assert response.json()["code"] != "42601", response.text  # SQL syntax error
    if response.status_code < 300:
        assert BOB not in response.text
        assert "bob one" not in response.text


def test_bobs_todo_survived_the_fuzzing(http: httpx.Client) -> None:
    rows = http.get("/todos", params={"user_id": f"eq.{BOB}"}, headers=SERVICE).json()
    assert [r["task"] for r in rows] == ["bob one"]
