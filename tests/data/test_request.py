"""Table-driven tests of the parser: select, filters, logic trees, order, Prefer, Range, Accept."""

from __future__ import annotations

import pytest

from neo.data.errors import ApiError
from neo.data.grammar import parse_filter, parse_logic, parse_order, parse_select, split_top
from neo.data.nodes import Embed, Field, Filter, JsonStep, Logic, SelectColumn, Star
from neo.data.request import negotiate, parse_prefer, parse_range, parse_request

F = Field
J = JsonStep


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("*", (Star(),)),
        ("", (Star(),)),
        ("id", (SelectColumn(F("id")),)),
        ("id,name", (SelectColumn(F("id")), SelectColumn(F("name")))),
        (" id , name ", (SelectColumn(F("id")), SelectColumn(F("name")))),
        ("n:name", (SelectColumn(F("name"), "n"),)),
        ("id::text", (SelectColumn(F("id"), None, "text"),)),
        ("i:id::text", (SelectColumn(F("id"), "i", "text"),)),
        ("price::double precision", (SelectColumn(F("price"), None, "double precision"),)),
        ("data->a", (SelectColumn(F("data", (J("->", "a"),))),)),
        ("data->>a", (SelectColumn(F("data", (J("->>", "a"),))),)),
        ("data->a->>b", (SelectColumn(F("data", (J("->", "a"), J("->>", "b")))),)),
        ("tags->0", (SelectColumn(F("tags", (J("->", "0"),))),)),
        ("x:data->a::int", (SelectColumn(F("data", (J("->", "a"),)), "x", "int"),)),
        ('"my col"', (SelectColumn(F("my col")),)),
        ('"a,b"', (SelectColumn(F("a,b")),)),
        ("first-name", (SelectColumn(F("first-name")),)),
        ("authors(*)", (Embed("authors", None, None, None, False, (Star(),)),)),
        ("authors()", (Embed("authors", None, None, None, False, ()),)),
        (
            "a:authors(name)",
            (Embed("authors", "a", None, None, False, (SelectColumn(F("name")),)),),
        ),
        ("authors!inner(*)", (Embed("authors", None, None, "inner", False, (Star(),)),)),
        ("authors!left(*)", (Embed("authors", None, None, "left", False, (Star(),)),)),
        ("authors!fk(*)", (Embed("authors", None, "fk", None, False, (Star(),)),)),
        ("authors!fk!inner(*)", (Embed("authors", None, "fk", "inner", False, (Star(),)),)),
        (
            "...authors(name)",
            (Embed("authors", None, None, None, True, (SelectColumn(F("name")),)),),
        ),
        (
            "id,authors(name,books(title))",
            (
                SelectColumn(F("id")),
                Embed(
                    "authors",
                    None,
                    None,
                    None,
                    False,
                    (
                        SelectColumn(F("name")),
                        Embed("books", None, None, None, False, (SelectColumn(F("title")),)),
                    ),
                ),
            ),
        ),
    ],
)
def test_select_parses(text: str, expected: tuple[object, ...]) -> None:
    assert parse_select(text) == expected


@pytest.mark.parametrize(
    "text",
    ["id,", ",id", "a(", "id::te;xt", "id::text)", "a!b!c!d(*)", "x->", "(id)", "a!(*)b"],
)
def test_bad_select_is_pgrst100(text: str) -> None:
    with pytest.raises(ApiError) as err:
        parse_select(text)
    assert err.value.code == "PGRST100"
    assert "failed to parse select parameter" in err.value.message


def test_aggregates_parse() -> None:
    (count,) = parse_select("count()")
    assert isinstance(count, SelectColumn)
    assert count.aggregate is not None
    (total,) = parse_select("t:price.sum()")
    assert isinstance(total, SelectColumn)
    assert (total.alias, total.field.name, total.aggregate and total.aggregate.function) == (
        "t",
        "price",
        "sum",
    )


@pytest.mark.parametrize(
    ("field", "value", "op", "negated", "operand"),
    [
        ("id", "eq.1", "eq", False, "1"),
        ("id", "neq.1", "neq", False, "1"),
        ("id", "gt.1", "gt", False, "1"),
        ("id", "gte.1", "gte", False, "1"),
        ("id", "lt.1", "lt", False, "1"),
        ("id", "lte.1", "lte", False, "1"),
        ("id", "not.eq.1", "eq", True, "1"),
        ("name", "like.*a*", "like", False, "*a*"),
        ("name", "ilike.*A*", "ilike", False, "*A*"),
        ("name", "match.^a", "match", False, "^a"),
        ("name", "imatch.^A", "imatch", False, "^A"),
        ("name", "eq.a.b.c", "eq", False, "a.b.c"),
        ("name", "eq.", "eq", False, ""),
        ("name", "eq.with space", "eq", False, "with space"),
        ("name", "is.null", "is", False, "null"),
        ("name", "is.NULL", "is", False, "NULL"),
        ("name", "is.not_null", "is", False, "not_null"),
        ("done", "is.true", "is", False, "true"),
        ("done", "is.false", "is", False, "false"),
        ("done", "is.unknown", "is", False, "unknown"),
        ("done", "not.is.null", "is", True, "null"),
        ("id", "in.(1,2,3)", "in", False, ("1", "2", "3")),
        ("id", "in.()", "in", False, ()),
        ("name", 'in.("a,b",c)', "in", False, ("a,b", "c")),
        ("name", 'in.("a\\"b")', "in", False, ('a"b',)),
        ("name", "not.in.(a)", "in", True, ("a",)),
        ("id", "isdistinct.1", "isdistinct", False, "1"),
        ("tags", "cs.{a,b}", "cs", False, "{a,b}"),
        ("tags", "cd.{a,b}", "cd", False, "{a,b}"),
        ("tags", "ov.{a,b}", "ov", False, "{a,b}"),
        ("meta", 'cs.{"lang":"en"}', "cs", False, '{"lang":"en"}'),
        ("during", "sl.[1,5)", "sl", False, "[1,5)"),
        ("during", "sr.(1,5)", "sr", False, "(1,5)"),
        ("during", "nxr.(1,5)", "nxr", False, "(1,5)"),
        ("during", "nxl.(1,5)", "nxl", False, "(1,5)"),
        ("during", "adj.(1,5)", "adj", False, "(1,5)"),
        ("body", "fts.cat", "fts", False, "cat"),
        ("body", "plfts.the cat", "plfts", False, "the cat"),
        ("body", "phfts.the cat", "phfts", False, "the cat"),
        ("body", "wfts.the cat", "wfts", False, "the cat"),
        ("body", "not.fts.cat", "fts", True, "cat"),
    ],
)
def test_filter_parses(field: str, value: str, op: str, negated: bool, operand: object) -> None:
    f = parse_filter(field, value)
    assert (f.op, f.negated, f.operand) == (op, negated, operand)


@pytest.mark.parametrize(
    ("value", "quant", "lang", "operand"),
    [
        ("fts(english).cat", None, "english", "cat"),
        ("plfts(simple).a b", None, "simple", "a b"),
        ("like(any).{a*,b*}", "any", None, ("a*", "b*")),
        ("like(all).{a*,*b}", "all", None, ("a*", "*b")),
        ("ilike(any).{a*}", "any", None, ("a*",)),
        ("eq(any).{1,2}", "any", None, ("1", "2")),
        ("gt(all).(1,2)", "all", None, ("1", "2")),
    ],
)
def test_filter_modifiers(value: str, quant: str | None, lang: str | None, operand: object) -> None:
    f = parse_filter("x", value)
    assert (f.quant, f.lang, f.operand) == (quant, lang, operand)


@pytest.mark.parametrize(
    "value",
    [
        "1",
        "eq1",
        "eqq.1",
        "equals.1",
        "in.1,2",
        "is.maybe",
        "like(some).{a}",
        "eq(english).x",
        "not.1",
        "",
        "fts",
        "in.(1,2",
    ],
)
def test_bad_filter_is_pgrst100(value: str) -> None:
    with pytest.raises(ApiError) as err:
        parse_filter("id", value)
    assert err.value.code == "PGRST100"
    assert err.value.status == 400


def test_filter_field_with_json_path() -> None:
    f = parse_filter("meta->>lang", "eq.en")
    assert f.field == F("meta", (J("->>", "lang"),))


def flt(name: str, op: str, value: object, negated: bool = False) -> Filter:
    return Filter(F(name), op, negated, value)  # type: ignore[arg-type]


def any_of(*children: Filter | Logic, negated: bool = False) -> Logic:
    return Logic("or", negated, children)


def all_of(*children: Filter | Logic, negated: bool = False) -> Logic:
    return Logic("and", negated, children)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("or", "(a.eq.1,b.eq.2)", any_of(flt("a", "eq", "1"), flt("b", "eq", "2"))),
        ("and", "(a.eq.1,b.eq.2)", all_of(flt("a", "eq", "1"), flt("b", "eq", "2"))),
        ("not.or", "(a.eq.1)", any_of(flt("a", "eq", "1"), negated=True)),
        ("not.and", "(a.eq.1)", all_of(flt("a", "eq", "1"), negated=True)),
        ("or", "(a.not.eq.1)", any_of(flt("a", "eq", "1", True))),
        ("or", '(a.eq."x,y")', any_of(flt("a", "eq", "x,y"))),
        ("or", '(a.eq."(x)")', any_of(flt("a", "eq", "(x)"))),
        (
            "or",
            "(a.in.(1,2),b.is.null)",
            any_of(flt("a", "in", ("1", "2")), flt("b", "is", "null")),
        ),
        (
            "or",
            "(a.eq.1,and(b.gt.2,c.lt.3))",
            any_of(flt("a", "eq", "1"), all_of(flt("b", "gt", "2"), flt("c", "lt", "3"))),
        ),
        (
            "and",
            "(a.eq.1,not.or(b.eq.2,c.eq.3))",
            all_of(
                flt("a", "eq", "1"), any_of(flt("b", "eq", "2"), flt("c", "eq", "3"), negated=True)
            ),
        ),
        (
            "or",
            "(and(a.eq.1,or(b.eq.2,c.eq.3)),d.eq.4)",
            any_of(
                all_of(flt("a", "eq", "1"), any_of(flt("b", "eq", "2"), flt("c", "eq", "3"))),
                flt("d", "eq", "4"),
            ),
        ),
        (
            "or",
            "(meta->>lang.eq.en)",
            any_of(Filter(F("meta", (J("->>", "lang"),)), "eq", False, "en")),
        ),
    ],
)
def test_logic_trees_parse(key: str, value: str, expected: Logic) -> None:
    assert parse_logic(key, value) == expected


@pytest.mark.parametrize("value", ["a.eq.1", "()", "(a)", "(a.eq.1", "(a.zz.1)", "(,)"])
def test_bad_logic_tree_is_pgrst100(value: str) -> None:
    with pytest.raises(ApiError) as err:
        parse_logic("or", value)
    assert err.value.code == "PGRST100"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id", [("id", False, None, None)]),
        ("id.asc", [("id", False, None, None)]),
        ("id.desc", [("id", True, None, None)]),
        ("id.desc.nullsfirst", [("id", True, "first", None)]),
        ("id.nullslast", [("id", False, "last", None)]),
        ("a.desc,b", [("a", True, None, None), ("b", False, None, None)]),
        ("authors(name).desc", [("name", True, None, "authors")]),
        ("meta->>lang.desc", [("meta", True, None, None)]),
    ],
)
def test_order_parses(text: str, expected: list[tuple[object, ...]]) -> None:
    terms = [(t.field.name, t.desc, t.nulls, t.relation) for t in parse_order(text)]
    assert terms == expected


@pytest.mark.parametrize("text", ["id.up", "id.desc.nulls", "", "a,,b", "id.asc.desc.x"])
def test_bad_order_is_pgrst100(text: str) -> None:
    with pytest.raises(ApiError) as err:
        parse_order(text)
    assert err.value.code == "PGRST100"


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("a,b", ["a", "b"]),
        ("a(b,c),d", ["a(b,c)", "d"]),
        ('"a,b",c', ['"a,b"', "c"]),
        ("{1,2},3", ["{1,2}", "3"]),
        ("", [""]),
    ],
)
def test_split_top(text: str, parts: list[str]) -> None:
    assert split_top(text) == parts


@pytest.mark.parametrize(
    ("header", "values", "max_affected", "invalid"),
    [
        ("return=representation", {"return": "representation"}, None, ()),
        ("return=minimal", {"return": "minimal"}, None, ()),
        ("return=headers-only", {"return": "headers-only"}, None, ()),
        ("count=exact", {"count": "exact"}, None, ()),
        ("count=planned", {"count": "planned"}, None, ()),
        ("count=estimated", {"count": "estimated"}, None, ()),
        (
            "resolution=merge-duplicates, return=representation",
            {"resolution": "merge-duplicates", "return": "representation"},
            None,
            (),
        ),
        ("resolution=ignore-duplicates", {"resolution": "ignore-duplicates"}, None, ()),
        ("missing=default", {"missing": "default"}, None, ()),
        ("tx=rollback", {"tx": "rollback"}, None, ()),
        ("handling=strict,max-affected=5", {"handling": "strict"}, 5, ()),
        ("return=everything", {}, None, ("return=everything",)),
        ("foo", {}, None, ("foo",)),
        ("", {}, None, ()),
        ("return=minimal;count=exact", {"return": "minimal", "count": "exact"}, None, ()),
        # the zone is checked against the database's list when the request runs
        ("timezone=Europe/Paris", {"timezone": "Europe/Paris"}, None, ()),
        ("timezone=Mars/Base", {"timezone": "Mars/Base"}, None, ()),
        # PostgREST v14 no longer knows params=single-object
        ("params=single-object", {}, None, ("params=single-object",)),
    ],
)
def test_prefer_parses(
    header: str, values: dict[str, str], max_affected: int | None, invalid: tuple[str, ...]
) -> None:
    prefs = parse_prefer(header)
    assert (dict(prefs.values), prefs.max_affected, prefs.invalid) == (
        values,
        max_affected,
        invalid,
    )


@pytest.mark.parametrize(
    ("header", "unit", "expected"),
    [
        ("0-9", None, (0, 9)),
        ("0-9", "items", (0, 9)),
        ("5-", None, (5, None)),
        ("items=2-3", None, (2, 3)),
        (None, None, None),
        ("x-y", None, None),
        ("0-9", "bytes", None),
    ],
)
def test_range_header(header: str | None, unit: str | None, expected: object) -> None:
    assert parse_range(header, unit) == expected


def test_inverted_range_is_416() -> None:
    with pytest.raises(ApiError) as err:
        parse_range("9-0", None)
    assert (err.value.status, err.value.code) == (416, "PGRST103")


@pytest.mark.parametrize(
    ("accept", "kind", "strip"),
    [
        (None, "json", False),
        ("*/*", "json", False),
        ("application/json", "json", False),
        ("application/json, text/plain", "json", False),
        ("application/vnd.pgrst.object+json", "object", False),
        ("application/vnd.pgrst.object", "object", False),
        ("application/vnd.pgrst.object+json;nulls=stripped", "object", True),
        ("application/vnd.pgrst.array+json;nulls=stripped", "json", True),
        ("text/csv", "csv", False),
        ("application/openapi+json", "openapi", False),
        ('application/vnd.pgrst.plan+json; for="application/json"', "plan", False),
        ("text/html, application/json", "json", False),
        ("application/geo+json", "geojson", False),  # 406 later when PostGIS is missing
        ("text/plain", "text", False),  # 406 later unless the output is one column
        ("text/xml", "xml", False),
        ("application/octet-stream", "binary", False),
    ],
)
def test_accept_negotiation(accept: str | None, kind: str, strip: bool) -> None:
    media = negotiate(accept)
    assert (media.kind, media.strip_nulls) == (kind, strip)


def test_raw_type_keeps_the_next_acceptable_one() -> None:
    media = negotiate("application/octet-stream, text/csv, application/json")
    assert (media.kind, media.fallback) == ("binary", negotiate("text/csv"))
    assert negotiate("text/plain").fallback is None


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "image/png"])
def test_unavailable_media_type_is_406(accept: str) -> None:
    with pytest.raises(ApiError) as err:
        negotiate(accept)
    assert (err.value.status, err.value.code) == (406, "PGRST107")


def test_request_collects_params_per_embedding_path() -> None:
    req = parse_request(
        "GET",
        "books",
        [
            ("select", "id,reviews(stars)"),
            ("id", "gt.1"),
            ("reviews.stars", "gte.4"),
            ("reviews.order", "stars.desc"),
            ("reviews.limit", "1"),
            ("reviews.offset", "2"),
            ("reviews.or", "(stars.eq.1,stars.eq.5)"),
            ("not.and", "(id.eq.1,id.eq.2)"),
            ("order", "id"),
            ("limit", "10"),
            ("offset", "5"),
            ("apikey", "whatever"),
        ],
        {"prefer": "count=exact", "accept-profile": "api"},
    )
    assert len(req.conditions[()]) == 2
    assert len(req.conditions[("reviews",)]) == 2
    assert req.limit == {(): 10, ("reviews",): 1}
    assert req.offset == {(): 5, ("reviews",): 2}
    assert req.order[("reviews",)][0].desc
    assert req.profile == "api"
    assert req.prefer.get("count") == "exact"


def test_profile_header_depends_on_method() -> None:
    headers = {"accept-profile": "a", "content-profile": "b"}
    assert parse_request("GET", "t", [], headers).profile == "a"
    assert parse_request("POST", "t", [], headers).profile == "b"


def test_columns_and_on_conflict() -> None:
    req = parse_request("POST", "t", [("columns", '"a","b c"'), ("on_conflict", "a,b")], {})
    assert req.columns == ("a", "b c")
    assert req.on_conflict == ("a", "b")


def test_rpc_arguments_are_split_from_filters() -> None:
    req = parse_request(
        "GET", "f", [("a", "1"), ("b", "eq.2")], {}, rpc=True, arg_names=frozenset({"a"})
    )
    assert req.args == (("a", "1"),)
    assert len(req.conditions[()]) == 1


@pytest.mark.parametrize(
    ("query", "args", "filtered"),
    [
        ([("x", "blabla")], (("x", "blabla"),), 0),  # not a filter: an (unknown) argument
        ([("x", "eq.1")], (), 1),
        ([("x", "not.in.(1,2)")], (), 1),
        ([("r.x", "blabla")], "PGRST100", 0),  # embedded filters stay filters
        ([("a", "eq.1"), ("x", "1")], (("a", "eq.1"), ("x", "1")), 0),
    ],
)
def test_rpc_get_parameters(query: list[tuple[str, str]], args: object, filtered: int) -> None:
    if args == "PGRST100":
        with pytest.raises(ApiError):
            parse_request("GET", "f", query, {}, rpc=True, arg_names=frozenset({"a"}))
        return
    req = parse_request("GET", "f", query, {}, rpc=True, arg_names=frozenset({"a"}))
    assert req.args == args
    assert len(req.conditions.get((), ())) == filtered


@pytest.mark.parametrize(("key", "value"), [("limit", "x"), ("offset", "-1"), ("limit", "")])
def test_bad_limit_or_offset_is_pgrst100(key: str, value: str) -> None:
    with pytest.raises(ApiError) as err:
        parse_request("GET", "t", [(key, value)], {})
    assert err.value.code == "PGRST100"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "application/json"),
        ("", "application/json"),
        ("text/plain", "text/plain"),
        ("Text/Plain; charset=utf-8", "text/plain"),
        ("application/octet-stream", "application/octet-stream"),
        (" text/xml ;charset=utf-8", "text/xml"),
    ],
)
def test_body_content_type(header: str | None, expected: str) -> None:
    headers = {} if header is None else {"content-type": header}
    assert parse_request("POST", "fn", [], headers, rpc=True).content_type == expected
