"""PostgREST v14 features beyond the core grammar: upsert status, PUT, response GUCs set by
functions and triggers, variadic and raw-body RPC arguments, raw one-column output, CSV and
form bodies (`Prefer: timezone` is in test_timezone.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from supabase import Client, ClientOptions, create_client

from tests.conftest import DEMO_ANON_KEY
from tests.support.js import run_js

EXTRA_SQL = """
create table files (id int primary key, name text not null, data bytea);
insert into files values (1, 'a.txt', '\\x68656c6c6f'), (2, 'b.bin', '\\x00ff');
create function blob() returns bytea language sql stable as $$ select '\\x0001ff'::bytea $$;

create table stock (sku text primary key, qty int not null);
insert into stock values ('a', 1), ('b', 2);
create view stock_view as select sku, qty from stock;


create function teapot() returns text language plpgsql stable as $$
begin
    perform set_config('response.status', '418', true);
    perform set_config('response.headers',
        '[{"X-Brew": "earl grey"}, {"Set-Cookie": "a=1"}, {"Set-Cookie": "b=2"}]', true);
    return 'short and stout';
end $$;
create function relocate() returns void language plpgsql as $$
begin
    perform set_config('response.status', '303', true);
    perform set_config('response.headers', '[{"Location": "/films?id=eq.1"}]', true);
end $$;
create function bad_status() returns int language plpgsql as $$
begin perform set_config('response.status', 'teapot', true); return 1; end $$;
create function bad_headers(h text default '{"X-A": "b"}') returns int language plpgsql as $$
begin perform set_config('response.headers', h, true); return 1; end $$;
create function stock_created() returns trigger language plpgsql as $$
begin
    perform set_config('response.headers',
        json_build_array(json_build_object('X-Stock', new.sku))::text, true);
    return new;
end $$;

create function total(variadic n int[]) returns int language sql immutable
    as $$ select coalesce(sum(x), 0)::int from unnest(n) x $$;
create function shout(text) returns text language sql immutable as $$ select upper($1) $$;
create function byte_len(bytea) returns int language sql immutable as $$ select length($1) $$;
create trigger stock_created before insert on stock
    for each row execute function stock_created();
"""


# --- upsert status ------------------------------------------------------------------------

MERGE = {"Prefer": "resolution=merge-duplicates"}


@pytest.mark.parametrize(
    ("table", "body", "prefer", "status"),
    [
        ("stock", {"sku": "a", "qty": 5}, "resolution=merge-duplicates", 200),
        (
            "stock",
            [{"sku": "a", "qty": 6}, {"sku": "c", "qty": 1}],
            "resolution=merge-duplicates",
            201,
        ),
        ("stock", {"sku": "d", "qty": 1}, "resolution=merge-duplicates", 201),
        ("stock", {"sku": "b", "qty": 7}, "resolution=merge-duplicates,return=representation", 200),
        ("stock", {"sku": "e", "qty": 1}, "return=minimal", 201),
        # a view has no xmax to tell inserts from updates: 201 (docs/deviations.md)
        ("stock_view", {"sku": "a", "qty": 8}, "resolution=merge-duplicates", 201),
    ],
)
async def test_upsert_is_200_when_nothing_was_inserted(
    client: httpx.AsyncClient, table: str, body: Any, prefer: str, status: int
) -> None:
    response = await client.post(
        f"/rest/v1/{table}?on_conflict=sku", json=body, headers={"Prefer": prefer}
    )
    assert response.status_code == status, response.text


async def test_upsert_without_conflict_columns_is_a_plain_insert(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/rest/v1/stock_view",  # a view: no primary key, and no on_conflict given
        json={"sku": "plain", "qty": 1},
        headers={"Prefer": "resolution=merge-duplicates"},
    )
    assert response.status_code == 201, response.text
    assert "preference-applied" not in response.headers  # nothing to resolve on


async def test_upsert_representation_holds_the_table_columns_only(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/rest/v1/stock",
        json=[{"sku": "b", "qty": 9}, {"sku": "f", "qty": 3}],
        headers={"Prefer": "resolution=merge-duplicates,return=representation"},
    )
    assert response.status_code == 201
    assert response.json() == [{"sku": "b", "qty": 9}, {"sku": "f", "qty": 3}]


# --- PUT: one row by its primary key -------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "body", "prefer", "status", "expected"),
    [
        ("stock?sku=eq.put1", {"sku": "put1", "qty": 1}, "return=representation", 201,
         [{"sku": "put1", "qty": 1}]),
        ("stock?sku=eq.put1", [{"sku": "put1", "qty": 2}, {"sku": "x", "qty": 0}],
         "return=representation", 200, [{"sku": "put1", "qty": 2}]),
        ("stock?sku=eq.put1", {"sku": "put1", "qty": 3}, "", 204, None),
        ("stock?sku=eq.put2", {"sku": "put2", "qty": 4}, "return=minimal", 204, None),
    ],
)  # fmt: skip
async def test_put_upserts_one_row(
    client: httpx.AsyncClient, url: str, body: Any, prefer: str, status: int, expected: Any
) -> None:
    response = await client.put(f"/rest/v1/{url}", json=body, headers={"Prefer": prefer})
    assert response.status_code == status, response.text
    if expected is None:
        assert response.content == b""
    else:
        assert response.json() == expected
        assert response.headers["preference-applied"] == "return=representation"


async def test_put_single_object(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/rest/v1/stock?sku=eq.put4&select=sku",
        json=[{"sku": "put4", "qty": 1}],
        headers={
            "Prefer": "return=representation",
            "Accept": "application/vnd.pgrst.object+json",
        },
    )
    assert response.status_code == 201, response.text
    assert response.json() == {"sku": "put4"}


async def test_put_row_is_stored(client: httpx.AsyncClient) -> None:
    await client.put("/rest/v1/stock?sku=eq.put3", json={"sku": "put3", "qty": 9})
    response = await client.get("/rest/v1/stock?sku=eq.put3")
    assert response.json() == [{"sku": "put3", "qty": 9}]


@pytest.mark.parametrize(
    ("url", "body", "status", "code"),
    [
        ("stock?sku=eq.a&limit=1", {"sku": "a", "qty": 1}, 400, "PGRST114"),
        ("stock?sku=eq.a&offset=1", {"sku": "a", "qty": 1}, 400, "PGRST114"),
        ("stock?qty=eq.1", {"sku": "a", "qty": 1}, 405, "PGRST105"),
        ("stock?sku=not.eq.a", {"sku": "a", "qty": 1}, 405, "PGRST105"),
        ("stock?sku=in.(a)", {"sku": "a", "qty": 1}, 405, "PGRST105"),
        ("stock?and=(sku.eq.a)", {"sku": "a", "qty": 1}, 405, "PGRST105"),
        ("stock?sku=eq.a&qty=eq.1", {"sku": "a", "qty": 1}, 405, "PGRST105"),
        ("stock", {"sku": "a", "qty": 1}, 405, "PGRST105"),
        ("stock_view?sku=eq.a", {"sku": "a", "qty": 1}, 405, "PGRST105"),
        ("stock?sku=eq.a", {"sku": "b", "qty": 1}, 400, "PGRST115"),
        ("stock?sku=eq.a", {"qty": 1}, 400, "PGRST115"),
    ],
)
async def test_put_restrictions(
    client: httpx.AsyncClient, url: str, body: Any, status: int, code: str
) -> None:
    response = await client.put(f"/rest/v1/{url}", json=body)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


# --- response.status / response.headers ---------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_function_sets_status_and_headers(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, "/rest/v1/rpc/teapot")
    assert response.status_code == 418
    assert response.json() == "short and stout"
    assert response.headers["x-brew"] == "earl grey"
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]


async def test_void_function_redirects(client: httpx.AsyncClient) -> None:
    response = await client.post("/rest/v1/rpc/relocate")
    assert response.status_code == 303
    assert response.headers["location"] == "/films?id=eq.1"


async def test_trigger_sets_a_write_header(client: httpx.AsyncClient) -> None:
    response = await client.post("/rest/v1/stock", json={"sku": "trig", "qty": 1})
    assert response.status_code == 201, response.text
    assert response.headers["x-stock"] == "trig"


@pytest.mark.parametrize(
    ("fn", "code", "message"),
    [
        ("bad_status", "PGRST112", "response.status guc must be a valid status code"),
        (
            "bad_headers",
            "PGRST111",
            "response.headers guc must be a JSON array composed of objects with a single key "
            "and a string value",
        ),
    ],
)
async def test_malformed_response_gucs(
    client: httpx.AsyncClient, fn: str, code: str, message: str
) -> None:
    response = await client.post(f"/rest/v1/rpc/{fn}")
    assert response.status_code == 500
    assert response.json()["code"] == code
    assert response.json()["message"] == message


@pytest.mark.parametrize(
    "headers",
    [
        "not json",
        "[]x",
        '[{"X-A": 1}]',
        '[{"X-A": "b", "X-B": "c"}]',
        '[{"Bad Name": "b"}]',
        '[{"X-A": "line\\nbreak"}]',
        '[{"X-A": "\u263a"}]',
        '["X-A"]',
    ],
)
async def test_unusable_response_headers_are_pgrst111(
    client: httpx.AsyncClient, headers: str
) -> None:
    response = await client.post("/rest/v1/rpc/bad_headers", json={"h": headers})
    assert response.status_code == 500
    assert response.json()["code"] == "PGRST111"


async def test_gucs_do_not_leak_to_the_next_request(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        await client.get("/rest/v1/rpc/teapot")
        response = await client.get("/rest/v1/stock?sku=eq.a&select=sku")
        assert response.status_code == 200
        assert "x-brew" not in response.headers


# --- variadic and raw-body arguments -----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("total?n=1&n=2&n=3", 6),
        ("total?n=5", 5),
        ("total?n={1,2}", 3),
    ],
)
async def test_variadic_from_repeated_query_params(
    client: httpx.AsyncClient, path: str, expected: int
) -> None:
    response = await client.get(f"/rest/v1/rpc/{path}")
    assert response.status_code == 200, response.text
    assert response.json() == expected


async def test_variadic_by_post_takes_an_array(client: httpx.AsyncClient) -> None:
    response = await client.post("/rest/v1/rpc/total", json={"n": [4, 5]})
    assert response.json() == 9


@pytest.mark.parametrize(
    ("fn", "content_type", "body", "expected"),
    [
        ("shout", "text/plain", b"hello", "HELLO"),
        ("shout", "text/plain; charset=utf-8", "grün".encode(), "GRÜN"),
        ("byte_len", "application/octet-stream", bytes(range(256)), 256),
    ],
)
async def test_raw_body_for_a_single_unnamed_parameter(
    client: httpx.AsyncClient, fn: str, content_type: str, body: bytes, expected: Any
) -> None:
    response = await client.post(
        f"/rest/v1/rpc/{fn}", content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == 200, response.text
    assert response.json() == expected


async def test_text_body_without_a_text_function_is_read_as_json(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/rest/v1/rpc/total", content=b"not json", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "PGRST102"


@pytest.mark.parametrize(
    ("path", "accept", "status", "content_type", "body"),
    [
        ("files?select=data&id=eq.1", "application/octet-stream", 200,
         "application/octet-stream", b"hello"),
        ("files?select=data&id=eq.2", "application/octet-stream", 200,
         "application/octet-stream", b"\x00\xff"),
        ("files?select=name&order=id", "text/plain", 200, "text/plain; charset=utf-8",
         b"a.txtb.bin"),
        ("files?select=name&id=eq.1", "text/xml", 200, "text/xml; charset=utf-8", b"a.txt"),
        ("files?select=id,name&id=eq.1", "text/plain, application/json", 200,
         "application/json; charset=utf-8", b'[{"id":1,"name":"a.txt"}]'),
        ("rpc/hello", "text/plain", 200, "text/plain; charset=utf-8", b"hello"),
        ("rpc/numbers?n=3", "text/plain", 200, "text/plain; charset=utf-8", b"123"),
        ("rpc/blob", "application/octet-stream", 200, "application/octet-stream",
         b"\x00\x01\xff"),
    ],
)  # fmt: skip
async def test_raw_output_of_one_column(
    client: httpx.AsyncClient, path: str, accept: str, status: int, content_type: str, body: bytes
) -> None:
    response = await client.get(f"/rest/v1/{path}", headers={"Accept": accept})
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == content_type
    assert response.content == body


@pytest.mark.parametrize("path", ["files?select=*", "files?select=id,name", "rpc/book_stats"])
async def test_raw_output_needs_one_column(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(f"/rest/v1/{path}", headers={"Accept": "text/plain"})
    assert response.status_code == 406
    assert response.json()["code"] == "PGRST107"
    assert response.json()["message"] == "None of these media types are available: text/plain"


# --- CSV and form bodies ---------------------------------------------------------------------


async def test_csv_bulk_insert(client: httpx.AsyncClient) -> None:
    body = b'sku,qty\ncsv1,1\n"csv,2",2\n'
    response = await client.post(
        "/rest/v1/stock?select=sku,qty",
        content=body,
        headers={"Content-Type": "text/csv", "Prefer": "return=representation"},
    )
    assert response.status_code == 201, response.text
    assert response.json() == [{"sku": "csv1", "qty": 1}, {"sku": "csv,2", "qty": 2}]


async def test_csv_null_and_empty_fields(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/rest/v1/files?select=id,name,data",
        content=b"id,name,data\n7,,NULL\n",
        headers={"Content-Type": "text/csv", "Prefer": "return=representation"},
    )
    assert response.status_code == 201, response.text
    assert response.json() == [{"id": 7, "name": "", "data": None}]


async def test_csv_lines_of_other_lengths(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/rest/v1/stock", content=b"sku,qty\nfoo,1\nbaz", headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": "PGRST102",
        "details": None,
        "hint": None,
        "message": "All lines must have same number of fields",
    }


@pytest.mark.parametrize("body", [b"", b"sku,qty\na\n", b"\xff\xfe"])
async def test_bad_csv_is_pgrst102(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post(
        "/rest/v1/stock", content=body, headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "PGRST102"


async def test_form_body_insert_and_call(client: httpx.AsyncClient) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    response = await client.post(
        "/rest/v1/stock?select=sku,qty",
        content=b"sku=form+one&qty=3",
        headers=form | {"Prefer": "return=representation"},
    )
    assert response.status_code == 201, response.text
    assert response.json() == [{"sku": "form one", "qty": 3}]
    response = await client.post("/rest/v1/rpc/add", content=b"a=2&b=5", headers=form)
    assert response.json() == 7


async def test_geojson_without_postgis_is_406(client: httpx.AsyncClient) -> None:
    response = await client.get("/rest/v1/stock", headers={"Accept": "application/geo+json"})
    assert response.status_code == 406
    assert response.json() == {
        "code": "PGRST107",
        "details": None,
        "hint": None,
        "message": "None of these media types are available: application/geo+json",
    }


# --- through supabase-py ------------------------------------------------------------------


@pytest.fixture(scope="module")
def anon(server_url: str) -> Iterator[Client]:
    """supabase-py with the anon key against a live NEO on this module's schema."""
    with httpx.Client(timeout=30) as http:
        yield create_client(server_url, DEMO_ANON_KEY, ClientOptions(httpx_client=http))


def test_supabase_py_variadic_rpc_and_upsert(anon: Client) -> None:
    assert anon.rpc("total", {"n": [1, 2, 3]}, get=True).execute().data == 6
    assert anon.rpc("total", {"n": [4, 5]}).execute().data == 9
    upserted = anon.table("stock").upsert({"sku": "py", "qty": 1}).execute()
    assert upserted.data == [{"sku": "py", "qty": 1}]
    again = anon.table("stock").upsert({"sku": "py", "qty": 2}).execute()
    assert again.data == [{"sku": "py", "qty": 2}]


# --- through supabase-js ------------------------------------------------------------------

JS = """
const anon = createClient(process.env.SUPABASE_URL, process.env.SUPABASE_KEY);
const pick = (r) => ({ data: r.data, error: r.error && r.error.code, status: r.status });
const out = {};
out.created = pick(await anon.from('stock').upsert({ sku: 'js', qty: 1 }).select());
out.updated = pick(await anon.from('stock').upsert({ sku: 'js', qty: 2 }).select());
out.teapot = pick(await anon.rpc('teapot'));
out.variadic = pick(await anon.rpc('total', { n: [1, 2, 3] }, { get: true }));
console.log(JSON.stringify(out));
"""


def test_supabase_js_sees_statuses(server_url: str) -> None:
    out: dict[str, Any] = run_js(JS, url=server_url, key=DEMO_ANON_KEY)
    assert (out["created"]["status"], out["created"]["data"]) == (201, [{"sku": "js", "qty": 1}])
    assert (out["updated"]["status"], out["updated"]["data"]) == (200, [{"sku": "js", "qty": 2}])
    assert out["teapot"]["status"] == 418  # not 2xx: postgrest-js reports it as an error
    assert out["variadic"]["data"] == 6
