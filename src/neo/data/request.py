"""The parser: a request's URL query and headers -> an `ApiRequest`, without touching the database.

Mirrors PostgREST's `ApiRequest`: the target (table, view or `rpc/fn`), the select tree,
conditions/order/limit/offset per embedding path, `Range`, `Prefer`, the negotiated media type
and the schema profile. Errors are PostgREST's (PGRST100, PGRST103, PGRST107, PGRST122).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from neo.data import grammar
from neo.data.errors import ApiError, not_acceptable
from neo.data.nodes import Condition, OrderTerm, SelectItem, Star

Path = tuple[str, ...]
# Media types whose body is one output column's values as they are (PostgREST's built-in
# handlers for text, xml and bytea results).
RAW_TYPES = {"text/plain": "text", "text/xml": "xml", "application/octet-stream": "binary"}
RAW_KINDS = frozenset(RAW_TYPES.values())
RESERVED = frozenset({"select", "columns", "on_conflict", "apikey"})
_PREFS = {
    "return": {"minimal", "headers-only", "representation"},
    "count": {"exact", "planned", "estimated"},
    "resolution": {"merge-duplicates", "ignore-duplicates"},
    "missing": {"default", "null"},
    "handling": {"lenient", "strict"},
    "tx": {"commit", "rollback"},
}


@dataclass(frozen=True)
class Preferences:
    """The `Prefer` header, split into PostgREST's known preferences."""

    values: Mapping[str, str] = field(default_factory=dict)
    max_affected: int | None = None
    invalid: tuple[str, ...] = ()

    def get(self, name: str) -> str | None:
        """The value of one preference, if given."""
        return self.values.get(name)


@dataclass(frozen=True)
class Media:
    """The negotiated response type."""

    kind: str  # json | object | csv | geojson | text | xml | binary | plan | openapi
    strip_nulls: bool = False
    plan_format: str = "text"
    plan_options: tuple[str, ...] = ()
    geojson: str | None = None  # the quoted ST_AsGeoJSON(record) to build a geojson body with
    raw_column: str | None = None  # text/xml/binary: the one output column sent as it is
    raw_binary: bool = False  # that column is bytea
    fallback: Media | None = None  # the next acceptable type, when a raw one cannot be served


@dataclass(frozen=True)
class ApiRequest:
    """Everything PostgREST reads from one request, typed."""

    method: str
    target: str
    is_rpc: bool = False
    profile: str | None = None
    select: tuple[SelectItem, ...] = (Star(),)
    conditions: Mapping[Path, tuple[Condition, ...]] = field(default_factory=dict)
    order: Mapping[Path, tuple[OrderTerm, ...]] = field(default_factory=dict)
    limit: Mapping[Path, int] = field(default_factory=dict)
    offset: Mapping[Path, int] = field(default_factory=dict)
    range: tuple[int, int | None] | None = None  # from the Range header
    prefer: Preferences = Preferences()
    media: Media = Media("json")
    columns: tuple[str, ...] | None = None
    on_conflict: tuple[str, ...] | None = None
    args: tuple[tuple[str, str], ...] = ()  # RPC arguments from the query string
    content_type: str = "application/json"  # of the body: media type, lower-cased, no params


def parse_request(
    method: str,
    target: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    *,
    rpc: bool = False,
    arg_names: frozenset[str] = frozenset(),
) -> ApiRequest:
    """Parse a request; `arg_names` are the RPC's parameter names (query params that are args)."""
    conditions: dict[Path, list[Condition]] = {}
    order: dict[Path, tuple[OrderTerm, ...]] = {}
    limit: dict[Path, int] = {}
    offset: dict[Path, int] = {}
    select: tuple[SelectItem, ...] = (Star(),)
    columns = on_conflict = None
    args: list[tuple[str, str]] = []
    for key, value in query:
        if key == "select":
            select = grammar.parse_select(value)
        elif key == "columns":
            columns = tuple(grammar.unquote(c.strip()) for c in grammar.split_top(value))
        elif key == "on_conflict":
            on_conflict = tuple(grammar.unquote(c.strip()) for c in value.split(","))
        elif key in RESERVED:
            continue
        elif rpc and (key in arg_names or _unknown_argument(key, value)):
            args.append((key, value))
        else:
            _parse_param(key, value, conditions, order, limit, offset)
    return ApiRequest(
        method=method,
        target=target,
        is_rpc=rpc,
        profile=_profile(method, headers),
        select=select,
        conditions={k: tuple(v) for k, v in conditions.items()},
        order=order,
        limit=limit,
        offset=offset,
        range=parse_range(headers.get("range"), headers.get("range-unit")),
        prefer=parse_prefer(headers.get("prefer", "")),
        media=negotiate(headers.get("accept")),
        columns=columns,
        on_conflict=on_conflict,
        args=tuple(args),
        content_type=_content_type(headers.get("content-type")),
    )


def _content_type(header: str | None) -> str:
    media = (header or "").split(";", 1)[0].strip().lower()
    return media or "application/json"


def _unknown_argument(key: str, value: str) -> bool:
    """An RPC query parameter that is not a filter (`smthelse=blabla`) is an argument, as in
    PostgREST: the call then fails with PGRST202 naming it, rather than as a bad filter."""
    if "." in key or key in ("or", "and", "order", "limit", "offset"):
        return False
    try:
        grammar.parse_filter(key, value, embed_path=())
    except ApiError:
        return True
    return False


def _parse_param(
    key: str,
    value: str,
    conditions: dict[Path, list[Condition]],
    order: dict[Path, tuple[OrderTerm, ...]],
    limit: dict[Path, int],
    offset: dict[Path, int],
) -> None:
    parts = key.split(".")
    last = parts[-1]
    negated_logic = len(parts) >= 2 and parts[-2] == "not" and last in ("or", "and")
    path = tuple(parts[:-2] if negated_logic else parts[:-1])
    if last == "order":
        order[path] = grammar.parse_order(value)
    elif last == "limit":
        limit[path] = grammar.parse_int("limit", value)
    elif last == "offset":
        offset[path] = grammar.parse_int("offset", value)
    elif last in ("or", "and"):
        logic_key = f"not.{last}" if negated_logic else last
        conditions.setdefault(path, []).append(
            grammar.parse_logic(logic_key, value, embed_path=path)
        )
    else:
        conditions.setdefault(path, []).append(grammar.parse_filter(last, value, embed_path=path))


def _profile(method: str, headers: Mapping[str, str]) -> str | None:
    name = "accept-profile" if method in ("GET", "HEAD") else "content-profile"
    value = headers.get(name)
    return value.strip() if value else None


def parse_prefer(header: str) -> Preferences:
    """`Prefer: return=representation, count=exact` (comma or semicolon separated)."""
    values: dict[str, str] = {}
    invalid: list[str] = []
    max_affected = None
    for token in re.split(r"[,;]", header):
        token = token.strip()
        if not token:
            continue
        name, _, value = token.partition("=")
        name, value = name.strip(), value.strip()
        if name == "max-affected" and value.isdigit():
            max_affected = int(value)
        elif name in ("timezone",):
            values[name] = value
        elif value in _PREFS.get(name, ()):
            values.setdefault(name, value)
        else:
            invalid.append(token)
    return Preferences(values, max_affected, tuple(invalid))


def parse_range(header: str | None, unit: str | None) -> tuple[int, int | None] | None:
    """`Range: 0-9` (unit `items`) -> (first, last); malformed headers are ignored."""
    if not header:
        return None
    m = re.fullmatch(r"\s*(?:items=)?(\d+)-(\d*)\s*", header)
    if not m or (unit and unit.strip() != "items"):
        return None
    first, last = int(m.group(1)), int(m.group(2)) if m.group(2) else None
    if last is not None and last < first:
        raise ApiError(
            "Requested range not satisfiable",
            status=416,
            code="PGRST103",
            details="The lower boundary must be lower than or equal to the upper "
            "boundary in the Range header.",
        )
    return first, last


def negotiate(accept: str | None) -> Media:
    """The media type to answer with, from the Accept header (PGRST107 when none fits)."""
    if not accept or not accept.strip():
        return Media("json")
    found: list[Media] = []
    for entry in accept.split(","):
        kind, *params = (p.strip() for p in entry.split(";"))
        opts = dict(p.partition("=")[::2] for p in params if "=" in p)
        media = _media_for(kind.lower(), opts)
        if media is not None and media.kind not in RAW_KINDS:
            return replace(found[0], fallback=media) if found else media
        if media is not None and not found:
            found.append(media)
    if found:
        return found[0]
    raise not_acceptable(accept)


def _media_for(kind: str, opts: dict[str, str]) -> Media | None:
    strip = opts.get("nulls") == "stripped"
    if kind in (
        "application/json",
        "application/*",
        "*/*",
        "application/vnd.pgrst.array+json",
        "application/vnd.pgrst.array",
    ):
        return Media("json", strip_nulls=strip)
    if kind in ("application/vnd.pgrst.object+json", "application/vnd.pgrst.object"):
        return Media("object", strip_nulls=strip)
    if kind in ("text/csv", "text/*"):
        return Media("csv")
    if kind in RAW_TYPES:
        return Media(RAW_TYPES[kind])  # served when the output is one column (`service.media`)
    if kind == "application/geo+json":
        return Media("geojson")  # served only where PostGIS is installed (`service.media`)
    if kind in ("application/openapi+json",):
        return Media("openapi")
    if kind.startswith("application/vnd.pgrst.plan"):
        fmt = "json" if kind.endswith("+json") else "text"
        options = tuple(o for o in opts.get("options", "").split("|") if o)
        return Media("plan", plan_format=fmt, plan_options=options)
    return None
