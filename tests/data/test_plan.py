"""Table-driven tests of the planner and SQL builder on a hand-made schema cache (no database).

Every request either plans into SQL whose values are all bound parameters and whose names are
all quoted, or fails with PostgREST's code.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from neo.data.actions import plan_call, plan_read, plan_write
from neo.data.errors import ApiError
from neo.data.fragments import ident
from neo.data.query import call_statement, read_statement, write_statement
from neo.data.relations import find_relationship
from neo.data.request import parse_request
from neo.data.schema_cache import Column, ForeignKey, Function, Param, Relation, SchemaCache


def relation(name: str, columns: dict[str, str], pk: tuple[str, ...] = ("id",),
             uniques: tuple[frozenset[str], ...] = ()) -> Relation:  # fmt: skip
    cols = {n: Column(n, t) for n, t in columns.items()}
    return Relation("public", name, "r", cols, pk, uniques)


def fk(name: str, table: str, cols: tuple[str, ...], ref: str, refs: tuple[str, ...]) -> ForeignKey:
    return ForeignKey(name, "public", table, cols, "public", ref, refs)


RELATIONS = [
    relation("authors", {"id": "bigint", "name": "text", "profile": "jsonb"}),
    relation(
        "books",
        {
            "id": "bigint",
            "title": "text",
            "author_id": "bigint",
            "editor_id": "bigint",
            "tags": "text[]",
            "meta": "jsonb",
        },
    ),
    relation("reviews", {"id": "integer", "book_id": "bigint", "stars": "integer"}),
    relation("isbns", {"book_id": "bigint", "isbn": "text"}, pk=("book_id",)),
    relation("genres", {"id": "integer", "name": "text"}),
    relation(
        "book_genres", {"book_id": "bigint", "genre_id": "integer"}, pk=("book_id", "genre_id")
    ),
    relation('we"ird', {'c"ol': "text", "id": "integer"}),
]
TITLE_LEN = Function("public", "title_len", (Param("", "public.books", False),), "integer", False,
                     "s", None, arg_relation=("public", "books"))  # fmt: skip
CACHE = SchemaCache(
    ["public", "api"],
    relations={r.key: r for r in RELATIONS},
    foreign_keys=[
        fk("books_author_id_fkey", "books", ("author_id",), "authors", ("id",)),
        fk("books_editor_id_fkey", "books", ("editor_id",), "authors", ("id",)),
        fk("reviews_book_id_fkey", "reviews", ("book_id",), "books", ("id",)),
        fk("isbns_book_id_fkey", "isbns", ("book_id",), "books", ("id",)),
        fk("book_genres_book_id_fkey", "book_genres", ("book_id",), "books", ("id",)),
        fk("book_genres_genre_id_fkey", "book_genres", ("genre_id",), "genres", ("id",)),
    ],
    functions={
        ("public", "add"): [
            Function(
                "public",
                "add",
                (Param("a", "integer", False), Param("b", "integer", True)),
                "integer",
                False,
                "i",
                None,
            )
        ],
        ("public", "echo"): [
            Function("public", "echo", (Param("", "json", False),), "json", False, "i", None)
        ],
        **{
            ("public", name): [Function("public", name, (Param("", typ, False),), "int4", False,
                                        "i", None)]
            for name, typ in [("shout", "text"), ("doc", "xml"), ("size", "bytea")]
        },
        ("public", "total"): [
            Function("public", "total", (Param("n", "integer[]", False, variadic=True),),
                     "integer", False, "i", None)
        ],
        ("public", "title_len"): [TITLE_LEN],
        ("public", "top_review"): [
            Function("public", "top_review", (Param("", "public.books", False),),
                     "public.reviews", True, "s", dict(RELATIONS[2].columns), rows=1,
                     arg_relation=("public", "books"), return_relation=("public", "reviews"))
        ],
    },
    fields={("public", "books"): {"title_len": TITLE_LEN}},
)  # fmt: skip


def read(url: str, **headers: str) -> tuple[str, list[object]]:
    path, _, qs = url.partition("?")
    req = parse_request("GET", path, parse_qsl(qs, keep_blank_values=True), headers)
    plan = plan_read(req, CACHE, "public")
    return read_statement(plan, req.media, count=True, head=False, limit=None, offset=0)


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("nope", "PGRST205"),
        ("books?select=nope", "42703"),
        ("books?nope=eq.1", "42703"),
        ("books?or=(nope.eq.1)", "42703"),
        ("books?order=nope", "42703"),
        ("books?select=*,authors(*)", "PGRST201"),
        ("books?select=*,nothing(*)", "PGRST200"),
        ("genres?select=*,reviews(*)", "PGRST200"),
        ("books?reviews.stars=eq.1", "PGRST108"),
        ("books?reviews.order=stars", "PGRST108"),
        ("books?reviews.limit=1", "PGRST108"),
        ("books?select=id,reviews(stars)&order=reviews(stars)", "PGRST118"),
        ("books?select=count()", "PGRST123"),
        ("books?select=id,reviews(nope)", "42703"),
        ("books?select=id,reviews(id)&reviews.nope=eq.1", "42703"),
        ("books?select=*,authors!nope(*)", "PGRST200"),
        ("books?select=*,authors!books_author_id_fkey(nope)", "42703"),
    ],
)
def test_planning_errors(url: str, code: str) -> None:
    with pytest.raises(ApiError) as err:
        read(url)
    assert err.value.code == code


@pytest.mark.parametrize(
    ("parent", "name", "hint", "kind", "target"),
    [
        ("books", "authors", "books_author_id_fkey", "many-to-one", "authors"),
        ("books", "authors", "author_id", "many-to-one", "authors"),
        ("books", "authors", "editor_id", "many-to-one", "authors"),
        ("books", "author_id", None, "many-to-one", "authors"),
        ("books", "books_editor_id_fkey", None, "many-to-one", "authors"),
        ("authors", "books", "author_id", "one-to-many", "books"),
        ("authors", "books", "books_editor_id_fkey", "one-to-many", "books"),
        ("books", "reviews", None, "one-to-many", "reviews"),
        ("reviews", "books", None, "many-to-one", "books"),
        ("books", "isbns", None, "one-to-one", "isbns"),
        ("isbns", "books", None, "many-to-one", "books"),
        ("books", "genres", None, "many-to-many", "genres"),
        ("books", "genres", "book_genres", "many-to-many", "genres"),
        ("genres", "books", None, "many-to-many", "books"),
        ("books", "book_genres", None, "one-to-many", "book_genres"),
    ],
)
def test_relationships(parent: str, name: str, hint: str | None, kind: str, target: str) -> None:
    rel = find_relationship(CACHE, CACHE.relations[("public", parent)], name, hint)
    assert (rel.kind, rel.target.name) == (kind, target)


def test_ambiguity_lists_every_candidate() -> None:
    with pytest.raises(ApiError) as err:
        find_relationship(CACHE, CACHE.relations[("public", "authors")], "books", None)
    assert err.value.status == 300
    assert len(err.value.details) == 2
    assert err.value.hint is not None
    assert "'books!books_author_id_fkey'" in err.value.hint


HOSTILE = ["'; drop table books; --", 'x" or 1=1 --', "$$", "\\", "O'Brien", "a\x01b", "🙂"]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize(
    "template",
    [
        "books?title=eq.{v}",
        "books?title=like.*{v}*",
        "books?title=in.({v},b)",
        "books?or=(title.eq.{v},id.eq.1)",
        "books?title=fts.{v}",
        "books?meta->>{v}=eq.{v}",
        "books?select=x:meta->{v}",
        "books?tags=cs.{{{v}}}",
        "books?select=id,reviews(id)&reviews.stars=eq.{v}",
    ],
)
def test_values_never_reach_sql_text(template: str, value: str) -> None:
    sql, code = "", None
    try:
        sql, _ = read(template.format(v=value))
    except ApiError as err:  # a name that is no column: refused before any SQL exists
        code = err.code
    assert code in (None, "PGRST100", "42703")
    assert value not in sql


@pytest.mark.parametrize(
    ("url", "fragments"),
    [
        ('we"ird?select="c\\"ol"', ['"we""ird"', '"c""ol"']),
        ("books?select=id&id=eq.1", ['"t0"."id" = CAST($', "AS bigint)"]),
        ("books?id=in.(1,2)", ["= ANY(CAST($", "AS bigint[])"]),
        ("books?title=is.null", ['"title" IS NULL']),
        ("books?title=not.is.null", ['NOT ("t0"."title" IS NULL)']),
        ("books?title=like.a*", ["LIKE $"]),
        ("books?title=fts(english).a", ["to_tsvector(CAST($", "@@ to_tsquery(CAST($"]),
        ("books?title=plfts.a", ["plainto_tsquery($"]),
        ("books?title=phfts.a", ["phraseto_tsquery($"]),
        ("books?title=wfts.a", ["websearch_to_tsquery($"]),
        ("books?tags=ov.{a}", ['"tags" && CAST($', "AS text[])"]),
        ("books?order=title.desc.nullslast", ['ORDER BY "t0"."title" DESC NULLS LAST']),
        ("books?select=id,authors!author_id(name)", ["LEFT JOIN LATERAL", "row_to_json"]),
        ("books?select=id,reviews(stars)", ["json_agg(pgrst_r)", "coalesce("]),
        ("books?select=id,genres(name)", ['EXISTS (SELECT 1 FROM "public"."book_genres"']),
        ("books?select=id,reviews!inner(id)", ['EXISTS (SELECT 1 FROM "public"."reviews"']),
        ("books?select=id,...authors!author_id(name)", ['"e1"."name" AS "name"']),
        ("books?select=id::text", ['CAST("t0"."id" AS text) AS "id"']),
        ("books?meta->>lang=eq.en", ['("t0"."meta"->>$']),
        ("books?limit=5&offset=2", ["LIMIT $", "OFFSET $"]),
        ("books?select=id,top_review(stars)",
         ['FROM "public"."top_review"("t0".*) AS "t1"', "row_to_json(pgrst_r)"]),
        ("books?select=title_len&title_len=gt.3&order=title_len",
         ['"public"."title_len"("t0".*) AS "title_len"',
          '"public"."title_len"("t0".*) > CAST($1::text AS integer)',
          'ORDER BY "public"."title_len"("t0".*) ASC']),
        ("books?select=id,top_review!inner(stars)",
         ['EXISTS (SELECT 1 FROM "public"."top_review"("t0".*) AS "t1" WHERE TRUE)']),
    ],
)  # fmt: skip
def test_sql_shapes(url: str, fragments: list[str]) -> None:
    path, _, qs = url.partition("?")
    req = parse_request("GET", path, parse_qsl(qs, keep_blank_values=True), {})
    limit, offset = req.limit.get(()), req.offset.get((), 0)
    plan = plan_read(req, CACHE, "public")
    sql, _ = read_statement(plan, req.media, count=False, head=False, limit=limit, offset=offset)
    for fragment in fragments:
        assert fragment in sql


@pytest.mark.parametrize(
    ("method", "url", "body", "prefer", "fragments"),
    [
        ("POST", "books", b'{"title":"x"}', "", ['INSERT INTO "public"."books" AS "t0" ("title")',
                                                 "json_populate_recordset", "RETURNING 1"]),
        ("POST", "books", b'[{"title":"x"}]', "return=representation", ['RETURNING "t0".*']),
        ("POST", "books?columns=title,tags", b'[{"title":"x"}]', "missing=default",
         ["pgrst_j::jsonb ? $", "ELSE NULL END"]),
        ("POST", "genres", b'{"id":1,"name":"x"}', "resolution=merge-duplicates",
         ['ON CONFLICT ("id") DO UPDATE SET "id" = EXCLUDED."id", "name" = EXCLUDED."name"']),
        ("POST", "genres?on_conflict=name", b'{"id":1,"name":"x"}',
         "resolution=ignore-duplicates", ['ON CONFLICT ("name") DO NOTHING']),
        ("POST", "genres", b'{"id":1}', "resolution=merge-duplicates,return=representation",
         ['RETURNING "t0" AS pgrst_row, "t0".xmax = 0 AS pgrst_new',
          "count(*) FILTER (WHERE pgrst_new) FROM pgrst_dml"]),
        ("POST", "genres", b'{"id":1}', "resolution=ignore-duplicates",
         ["NULL::int8 AS inserted"]),
        ("POST", "genres", b'{"id":1}', "return=headers-only", ['RETURNING "t0"."id"']),
        ("PATCH", "books?id=eq.1", b'{"title":"y"}', "", ['UPDATE "public"."books" AS "t0" SET '
                                                          '"title" = pgrst_b."title"']),
        ("PATCH", "books?id=gt.1&order=id&limit=1", b'{"title":"y"}', "", ['"t0".ctid = ANY(']),
        ("DELETE", "books?id=eq.1", b"", "", ['DELETE FROM "public"."books" AS "t0" WHERE']),
    ],
)  # fmt: skip
def test_write_sql_shapes(
    method: str, url: str, body: bytes, prefer: str, fragments: list[str]
) -> None:
    path, _, qs = url.partition("?")
    req = parse_request(method, path, parse_qsl(qs), {"prefer": prefer})
    plan = plan_write(req, CACHE, "public", body)
    sql, params = write_statement(plan, req.media, returning=req.prefer.get("return") or "minimal",
                                  head=False)  # fmt: skip
    for fragment in fragments:
        assert fragment in sql
    if body:
        assert body.decode() in params


@pytest.mark.parametrize(
    ("url", "body", "code"),
    [
        ("books", b"{", "PGRST102"),
        ("books", b"", "PGRST102"),
        ("books", b"[1]", "PGRST102"),
        ("books", b'[{"title":"a"},{"id":1}]', "PGRST102"),
        ("books", b'{"nope":1}', "PGRST204"),
        ("books?columns=nope", b'{"title":"a"}', "PGRST204"),
        ("nope", b"{}", "PGRST205"),
    ],
)
def test_write_errors(url: str, body: bytes, code: str) -> None:
    path, _, qs = url.partition("?")
    req = parse_request("POST", path, parse_qsl(qs), {})
    with pytest.raises(ApiError) as err:
        plan_write(req, CACHE, "public", body)
    assert err.value.code == code


@pytest.mark.parametrize(
    ("method", "url", "body", "code"),
    [
        ("POST", "add", b'{"x":1}', "PGRST202"),
        ("POST", "nope", b"{}", "PGRST202"),
        ("GET", "add?b=1", None, "PGRST202"),
    ],
)
def test_call_errors(method: str, url: str, body: bytes | None, code: str) -> None:
    path, _, qs = url.partition("?")
    req = parse_request(method, path, parse_qsl(qs), {}, rpc=True, arg_names=frozenset("ab"))
    with pytest.raises(ApiError) as err:
        plan_call(req, CACHE, "public", body)
    assert err.value.code == code


@pytest.mark.parametrize(
    ("method", "url", "body", "fragment"),
    [
        ("POST", "add", b'{"a":1}', 'json_to_record($1::json) AS pgrst_args("a" integer)'),
        ("GET", "add?a=1&b=2", None, '"public"."add"("a" := CAST($1::text AS integer), "b" :='),
        ("POST", "echo", b'{"any":1}', '"public"."echo"(CAST($1::text AS json))'),
        ("POST", "shout;text/plain", b"hi", '"public"."shout"(CAST($1::text AS text))'),
        ("POST", "doc;text/xml", b"<a/>", '"public"."doc"(CAST($1::text AS xml))'),
        ("POST", "size;application/octet-stream", b"\x00", '"size"(CAST($1::bytea AS bytea))'),
        ("GET", "total?n=1&n=2", None, '"total"(VARIADIC "n" := CAST($1::text[] AS integer[]))'),
        ("GET", "total?n={1,2}", None, '"total"(VARIADIC "n" := CAST($1::text AS integer[]))'),
    ],
)
def test_call_sql_shapes(method: str, url: str, body: bytes | None, fragment: str) -> None:
    path, _, qs = url.partition("?")
    path, _, content_type = path.partition(";")
    headers = {"content-type": content_type} if content_type else {}
    args = frozenset({"a", "b", "n"})
    req = parse_request(method, path, parse_qsl(qs), headers, rpc=True, arg_names=args)
    plan = plan_call(req, CACHE, "public", body)
    sql, _ = call_statement(plan, req.media, count=False, head=False, limit=None, offset=0)
    assert fragment in sql


@pytest.mark.parametrize("name", ["a", 'a"b', 'a""b', "", "😀", "a b", "select"])
def test_ident_always_quotes(name: str) -> None:
    quoted = ident(name)
    assert quoted.startswith('"')
    assert quoted.endswith('"')
    assert quoted[1:-1].replace('""', "").count('"') == 0
