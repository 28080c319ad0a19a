"""Embedding through foreign keys: to-one, to-many, many-to-many, hints, !inner, spread."""

from __future__ import annotations

from typing import Any

import httpx
import pytest


async def get(client: httpx.AsyncClient, query: str) -> Any:
    response = await client.get(f"/rest/v1/{query}")
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("books?select=title,authors!author_id(name)&id=eq.1",
         [{"title": "The Dispossessed", "authors": {"name": "Ursula"}}]),
        ("books?select=title,writer:authors!author_id(name)&id=eq.4",
         [{"title": "The Left Hand of Darkness", "writer": {"name": "Ursula"}}]),
        ("books?select=id,editor:authors!books_editor_id_fkey(name)&id=eq.1",
         [{"id": 1, "editor": {"name": "Octavia"}}]),
        ("books?select=id,editor:editor_id(name)&id=eq.2",
         [{"id": 2, "editor": {"name": "Ursula"}}]),
        ("books?select=id,editor:authors!editor_id(name)&id=eq.4",
         [{"id": 4, "editor": None}]),
        ("authors?select=name,books!author_id(title)&id=eq.3",
         [{"name": "Octavia", "books": [{"title": "Kindred"}]}]),
        ("authors?select=name,books!author_id(title)&id=eq.4", [{"name": "Nobody", "books": []}]),
        ("books?select=id,reviews(stars)&id=eq.1&reviews.order=stars",
         [{"id": 1, "reviews": [{"stars": 4}, {"stars": 5}]}]),
        ("books?select=id,reviews(stars)&id=eq.1&reviews.stars=eq.5",
         [{"id": 1, "reviews": [{"stars": 5}]}]),
        ("books?select=id,reviews(stars)&id=eq.1&reviews.order=stars.desc&reviews.limit=1",
         [{"id": 1, "reviews": [{"stars": 5}]}]),
        ("books?select=id,reviews(stars)&id=eq.1&reviews.order=stars&reviews.offset=1",
         [{"id": 1, "reviews": [{"stars": 5}]}]),
        ("books?select=id,reviews(stars)&id=eq.1&reviews.or=(stars.eq.1,stars.eq.4)",
         [{"id": 1, "reviews": [{"stars": 4}]}]),
        ("books?select=id,isbns(isbn)&id=eq.2", [{"id": 2, "isbns": {"isbn": "978-0156027601"}}]),
        ("books?select=id,isbns(isbn)&id=eq.3", [{"id": 3, "isbns": None}]),
        ("books?select=id,genres(name)&id=eq.1&genres.order=id",
         [{"id": 1, "genres": [{"name": "science fiction"}, {"name": "philosophy"}]}]),
        ("genres?select=name,books(id)&id=eq.2&books.order=id",
         [{"name": "history", "books": [{"id": 3}]}]),
        ("books?select=id,reviews!inner(stars)&reviews.stars=eq.5&order=id",
         [{"id": 1, "reviews": [{"stars": 5}]}, {"id": 2, "reviews": [{"stars": 5}]}]),
        ("books?select=id,reviews()&reviews=not.is.null&order=id",
         [{"id": 1}, {"id": 2}, {"id": 3}]),
        ("books?select=id,reviews(id)&reviews=is.null&order=id",
         [{"id": 4, "reviews": []}, {"id": 5, "reviews": []}]),
        ("books?select=id,isbns!inner(isbn)&order=id",
         [{"id": 1, "isbns": {"isbn": "978-0061054884"}},
          {"id": 2, "isbns": {"isbn": "978-0156027601"}}]),
        ("books?select=title,...authors!author_id(author:name,country)&id=eq.3",
         [{"title": "Kindred", "author": "Octavia", "country": "US"}]),
        ("authors?select=name,...books!author_id(title)&id=eq.1&books.order=id",
         [{"name": "Ursula", "title": ["The Dispossessed", "The Left Hand of Darkness"]}]),
        ("authors?select=name,books!author_id(title,reviews(stars))&id=eq.2&books.order=id"
         "&books.reviews.order=stars",
         [{"name": "Stanislaw", "books": [{"title": "Solaris", "reviews": [{"stars": 5}]},
                                          {"title": "Fiasco", "reviews": []}]}]),
        ("books?select=id,authors!author_id!inner(name)&authors.country=eq.PL&order=id",
         [{"id": 2, "authors": {"name": "Stanislaw"}},
          {"id": 5, "authors": {"name": "Stanislaw"}}]),
        ("books?select=id,authors!author_id(name)&order=authors(name).desc,id&limit=2",
         [{"id": 1, "authors": {"name": "Ursula"}}, {"id": 4, "authors": {"name": "Ursula"}}]),
        ("authors?select=name,books!author_id(count)&order=id&limit=2",
         [{"name": "Ursula", "books": [{"count": 2}]},
          {"name": "Stanislaw", "books": [{"count": 2}]}]),
        ("authors?select=name,books!author_id(n:count)&id=eq.4",
         [{"name": "Nobody", "books": [{"n": 0}]}]),
        ("book_details?select=title,authors(name)&id=eq.3",
         [{"title": "Kindred", "authors": {"name": "Octavia"}}]),
        ("author_names?select=name,book_details(title)&id=eq.2",
         [{"name": "Stanislaw", "book_details": [{"title": "Fiasco"}]}]),
        ("book_titles?select=title,reviews(stars)&id=eq.2",
         [{"title": "Solaris", "reviews": [{"stars": 5}]}]),
        ("reviews?select=stars,books(title,authors!author_id(name))&id=eq.3",
         [{"stars": 5, "books": {"title": "Solaris", "authors": {"name": "Stanislaw"}}}]),
    ],
)  # fmt: skip
async def test_embedding(client: httpx.AsyncClient, query: str, expected: list[Any]) -> None:
    assert await get(client, query) == expected


async def test_ambiguous_embedding_is_pgrst201(client: httpx.AsyncClient) -> None:
    response = await client.get("/rest/v1/books?select=*,authors(*)")
    assert response.status_code == 300
    body = response.json()
    assert body["code"] == "PGRST201"
    assert body["message"] == (
        "Could not embed because more than one relationship was found for 'books' and 'authors'"
    )
    assert {d["cardinality"] for d in body["details"]} == {"many-to-one"}
    assert "authors!books_author_id_fkey" in body["hint"]


async def test_missing_relationship_is_pgrst200(client: httpx.AsyncClient) -> None:
    response = await client.get("/rest/v1/genres?select=*,reviews(*)")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "PGRST200"
    assert body["message"] == (
        "Could not find a relationship between 'genres' and 'reviews' in the schema cache"
    )


async def test_filter_on_unselected_embed_is_pgrst108(client: httpx.AsyncClient) -> None:
    response = await client.get("/rest/v1/books?select=id&reviews.stars=eq.1")
    assert response.status_code == 400
    assert response.json()["message"] == "'reviews' is not an embedded resource in this request"


async def test_order_on_to_many_embed_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/rest/v1/books?select=id,reviews(stars)&order=reviews(stars)")
    assert response.status_code == 400
    assert response.json()["code"] == "PGRST118"
