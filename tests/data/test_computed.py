"""Computed relationships and fields (functions of a row), and relationships through views
that rename key columns, also views of tables in a schema that is not exposed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from supabase import Client, ClientOptions, create_client

from tests.conftest import DEMO_ANON_KEY
from tests.support.js import run_js

EXTRA_SQL = """
create table directors (did int primary key, name text not null);
create table films (
    id int primary key, title text not null, director_id int references directors(did)
);
create function director(films) returns setof directors rows 1 stable language sql
    as $$ select * from directors where did = $1.director_id $$;
create function filmography(directors) returns setof films stable language sql
    as $$ select * from films where director_id = $1.did order by id $$;
create function full_title(films) returns text language sql stable
    as $$ select $1.title || ' (' || $1.id || ')' $$;
create function all_films() returns setof films stable language sql
    as $$ select * from films order by id $$;
create function did(directors) returns int language sql stable as $$ select -1 $$;
insert into directors values (1, 'Tarkovsky'), (2, 'Varda'), (3, 'Nobody');
insert into films values (1, 'Solaris', 1), (2, 'Stalker', 1), (3, 'Cleo', 2), (4, 'Orphan', null);

create view film_list as select id as film_id, title, director_id as made_by from films;
create view director_names as select did as key, name as label from directors;
create view film_list2 as
    select (select count(*) from directors) as made_by_count, film_id as fid, made_by as who
    from film_list;

create schema private;
create table private.teams (id int primary key, name text not null);
create table private.players (
    id int primary key, name text not null, team_id int references private.teams(id)
);
insert into private.teams values (1, 'red'), (2, 'blue');
insert into private.players values (1, 'ann', 1), (2, 'ben', 1), (3, 'cid', 2);
create view private.players_inner as select id as pid, name, team_id as tid from private.players;
create view teams as select id as team_key, name from private.teams;
create view players as select pid as id, name, tid as team from private.players_inner;
"""


# --- computed relationships -------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            "films?select=title,director(name)&order=id",
            [
                {"title": "Solaris", "director": {"name": "Tarkovsky"}},
                {"title": "Stalker", "director": {"name": "Tarkovsky"}},
                {"title": "Cleo", "director": {"name": "Varda"}},
                {"title": "Orphan", "director": None},
            ],
        ),
        (
            "directors?select=name,filmography(title)&order=did",
            [
                {"name": "Tarkovsky", "filmography": [{"title": "Solaris"}, {"title": "Stalker"}]},
                {"name": "Varda", "filmography": [{"title": "Cleo"}]},
                {"name": "Nobody", "filmography": []},
            ],
        ),
        (
            "directors?select=name,filmography!inner(title)&filmography.title=eq.Cleo",
            [{"name": "Varda", "filmography": [{"title": "Cleo"}]}],
        ),
        (
            "films?select=title,director()&director=not.is.null&order=director(name).desc,id",
            [{"title": "Cleo"}, {"title": "Solaris"}, {"title": "Stalker"}],
        ),
        (
            "directors?select=name,films:filmography(title)&films.limit=1&did=eq.1",
            [{"name": "Tarkovsky", "films": [{"title": "Solaris"}]}],
        ),
        (
            "films?select=title,...director(director:name)&id=eq.3",
            [{"title": "Cleo", "director": "Varda"}],
        ),
    ],
)
async def test_computed_relationships_embed(
    client: httpx.AsyncClient, path: str, expected: Any
) -> None:
    response = await client.get(f"/rest/v1/{path}")
    assert response.status_code == 200, response.text
    assert response.json() == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("all_films?select=title,director(name)&id=eq.3",
         [{"title": "Cleo", "director": {"name": "Varda"}}]),
        ("all_films?select=title,directors(name)&id=eq.1",
         [{"title": "Solaris", "directors": {"name": "Tarkovsky"}}]),
        ("all_films?select=full_title&id=eq.2", [{"full_title": "Stalker (2)"}]),
        ("all_films?select=id,directors!inner(name)&directors.name=eq.Varda",
         [{"id": 3, "directors": {"name": "Varda"}}]),
    ],
)  # fmt: skip
async def test_function_rows_embed_like_their_table(
    client: httpx.AsyncClient, path: str, expected: Any
) -> None:
    response = await client.get(f"/rest/v1/rpc/{path}")
    assert response.status_code == 200, response.text
    assert response.json() == expected


async def test_writes_return_computed_relationships(client: httpx.AsyncClient) -> None:
    rep = {"Prefer": "return=representation"}
    response = await client.post(
        "/rest/v1/films?select=title,director(name)",
        json={"id": 70, "title": "New", "director_id": 2},
        headers=rep,
    )
    assert response.status_code == 201, response.text
    assert response.json() == [{"title": "New", "director": {"name": "Varda"}}]
    response = await client.patch(
        "/rest/v1/directors?select=name,filmography(title)&did=eq.3",
        json={"name": "Somebody"},
        headers=rep,
    )
    assert response.status_code == 200, response.text
    assert response.json() == [{"name": "Somebody", "filmography": []}]
    # leave the module's data as the other tests expect it
    await client.delete("/rest/v1/films?id=eq.70")
    await client.patch("/rest/v1/directors?did=eq.3", json={"name": "Nobody"})


async def test_openapi_still_renders_with_computed_functions(client: httpx.AsyncClient) -> None:
    response = await client.get("/rest/v1/")
    assert response.status_code == 200
    assert "/rpc/full_title" in response.json()["paths"]


async def test_unknown_computed_relationship_is_pgrst200(client: httpx.AsyncClient) -> None:
    response = await client.get("/rest/v1/films?select=title,producer(*)")
    assert response.status_code == 400
    assert response.json()["code"] == "PGRST200"


# --- computed fields -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("films?select=id,full_title&id=eq.1", [{"id": 1, "full_title": "Solaris (1)"}]),
        ("films?select=id&full_title=like.Sta*", [{"id": 2}]),
        ("films?select=id&order=full_title.desc&limit=1", [{"id": 2}]),
        ("films?select=label:full_title&id=eq.3", [{"label": "Cleo (3)"}]),
        ("films?id=eq.4", [{"id": 4, "title": "Orphan", "director_id": None}]),
        (
            "directors?select=name,filmography(full_title)&did=eq.2",
            [{"name": "Varda", "filmography": [{"full_title": "Cleo (3)"}]}],
        ),
        ("films?select=id&or=(full_title.eq.Cleo (3),id.eq.1)&order=id", [{"id": 1}, {"id": 3}]),
        # a column wins over a function of the row with the same name
        ("directors?select=did&did=eq.2&order=did", [{"did": 2}]),
    ],
)
async def test_computed_fields(client: httpx.AsyncClient, path: str, expected: Any) -> None:
    response = await client.get(f"/rest/v1/{path}")
    assert response.status_code == 200, response.text
    assert response.json() == expected


async def test_computed_field_in_a_write_representation(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/rest/v1/films?select=id,full_title",
        json={"id": 50, "title": "Draft"},
        headers={"Prefer": "return=representation"},
    )
    assert response.status_code == 201, response.text
    assert response.json() == [{"id": 50, "full_title": "Draft (50)"}]


async def test_unknown_field_is_still_42703(client: httpx.AsyncClient) -> None:
    response = await client.get("/rest/v1/films?select=id,nope")
    assert response.status_code == 400
    assert response.json()["code"] == "42703"


# --- relationships through views that rename key columns ---------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            "film_list?select=title,directors(name)&film_id=eq.3",
            [{"title": "Cleo", "directors": {"name": "Varda"}}],
        ),
        (
            "films?select=title,director_names(label)&id=eq.1",
            [{"title": "Solaris", "director_names": {"label": "Tarkovsky"}}],
        ),
        (
            "film_list?select=title,director_names(label)&film_id=eq.2",
            [{"title": "Stalker", "director_names": {"label": "Tarkovsky"}}],
        ),
        (
            "directors?select=name,film_list(film_id)&did=eq.1&film_list.order=film_id",
            [{"name": "Tarkovsky", "film_list": [{"film_id": 1}, {"film_id": 2}]}],
        ),
        (
            "players?select=name,teams(name)&id=eq.3",
            [{"name": "cid", "teams": {"name": "blue"}}],
        ),
        (
            "teams?select=name,players(name)&team_key=eq.1&players.order=id",
            [{"name": "red", "players": [{"name": "ann"}, {"name": "ben"}]}],
        ),
        (
            "film_list2?select=fid,directors(name)&fid=eq.3",
            [{"fid": 3, "directors": {"name": "Varda"}}],
        ),
    ],
)
async def test_embedding_through_views_with_renamed_keys(
    client: httpx.AsyncClient, path: str, expected: Any
) -> None:
    response = await client.get(f"/rest/v1/{path}")
    assert response.status_code == 200, response.text
    assert response.json() == expected


# --- through the clients ------------------------------------------------------------------


@pytest.fixture(scope="module")
def anon(server_url: str) -> Iterator[Client]:
    """supabase-py with the anon key against a live NEO on this module's schema."""
    with httpx.Client(timeout=30) as http:
        yield create_client(server_url, DEMO_ANON_KEY, ClientOptions(httpx_client=http))


def test_supabase_py_embeds_computed_and_view_relationships(anon: Client) -> None:
    films = anon.table("films").select("title,director(name)").eq("id", 3).execute()
    assert films.data == [{"title": "Cleo", "director": {"name": "Varda"}}]
    listed = anon.table("film_list").select("title,directors(name)").eq("film_id", 1).execute()
    assert listed.data == [{"title": "Solaris", "directors": {"name": "Tarkovsky"}}]


def test_supabase_py_computed_field(anon: Client) -> None:
    found = anon.table("films").select("id,full_title").eq("full_title", "Cleo (3)").execute()
    assert found.data == [{"id": 3, "full_title": "Cleo (3)"}]


JS = """
const anon = createClient(process.env.SUPABASE_URL, process.env.SUPABASE_KEY);
const pick = (r) => ({ data: r.data, error: r.error && r.error.code, status: r.status });
const out = {};
out.computed = pick(await anon.from('directors').select('name, filmography(title)')
  .eq('did', 2));
out.viaView = pick(await anon.from('film_list').select('title, director_names(label)')
  .eq('film_id', 1));
out.field = pick(await anon.from('films').select('full_title').eq('id', 1));
console.log(JSON.stringify(out));
"""


def test_supabase_js_embeds_computed_and_view_relationships(server_url: str) -> None:
    out: dict[str, Any] = run_js(JS, url=server_url, key=DEMO_ANON_KEY)
    assert out["computed"]["data"] == [{"name": "Varda", "filmography": [{"title": "Cleo"}]}]
    assert out["viaView"]["data"] == [
        {"title": "Solaris", "director_names": {"label": "Tarkovsky"}}
    ]
    assert out["field"]["data"] == [{"full_title": "Solaris (1)"}]
