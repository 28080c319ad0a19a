"""Response shaping as PostgREST does it: status codes, Content-Range, Preference-Applied,
Location, media types, the 206/416 rules of range requests, and the status and headers a
function asks for through the `response.status` / `response.headers` settings."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import quote

from starlette.responses import Response

from neo.data.errors import ApiError, ResponseSettingError
from neo.data.request import ApiRequest, Media

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP header name
_CTL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # no header value carries these
CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "object": "application/vnd.pgrst.object+json; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "openapi": "application/openapi+json; charset=utf-8",
    "geojson": "application/geo+json; charset=utf-8",
    "text": "text/plain; charset=utf-8",
    "xml": "text/xml; charset=utf-8",
    "binary": "application/octet-stream",
}


def content_type(media: Media) -> str:
    """The Content-Type header for a negotiated media type."""
    if media.kind == "plan":
        return (
            f'application/vnd.pgrst.plan+{media.plan_format}; for="application/json"; charset=utf-8'
        )
    ctype = CONTENT_TYPES[media.kind]
    if media.strip_nulls and media.kind in ("json", "object"):
        base = "array" if media.kind == "json" else "object"
        ctype = f"application/vnd.pgrst.{base}+json;nulls=stripped; charset=utf-8"
    return ctype


def content_range(first: int, rows: int, total: int | None) -> str:
    """`first-last/total`, `*/total` for an empty page, `*` for an unknown total."""
    shown = "*" if total is None else str(total)
    if rows == 0:
        return f"*/{shown}"
    return f"{first}-{first + rows - 1}/{shown}"


def read_status(first: int, rows: int, total: int | None) -> int:
    """200, 206 (a part of a counted result) or PGRST103 (416, offset past the end)."""
    if total is None:
        return 200
    if first > total:
        raise ApiError(
            "Requested range not satisfiable",
            status=416,
            code="PGRST103",
            details=f"An offset of {first} was requested, but there are only {total} rows.",
        )
    return 206 if rows < total else 200


def preference_applied(
    req: ApiRequest,
    *,
    tx: str | None,
    write: bool,
    timezone: str | None = None,
    resolved: bool = True,
) -> str | None:
    """The preferences NEO honoured, echoed as `Preference-Applied` in PostgREST's order
    (`resolved=False`: an upsert that had no conflict columns to resolve on)."""
    prefer = req.prefer
    names: tuple[str, ...] = ("resolution", "missing", "return", "count") if write else ("count",)
    if not resolved:
        names = tuple(n for n in names if n != "resolution")
    applied = [f"{n}={prefer.get(n)}" for n in names if prefer.get(n)]
    if tx:
        applied.append(f"tx={tx}")
    if prefer.get("handling"):
        applied.append(f"handling={prefer.get('handling')}")
    if timezone:
        applied.append(f"timezone={timezone}")
    if write and prefer.max_affected is not None and prefer.get("handling") == "strict":
        applied.append(f"max-affected={prefer.max_affected}")
    return ", ".join(applied) or None


@dataclass(frozen=True)
class ReadShape:
    """A read's response headers besides its range, encoded once per read statement:
    `Preference-Applied` (None when nothing applies) and `Content-Type`."""

    applied: bytes | None
    content_type: bytes


def read_shape(req: ApiRequest, media: Media, timezone: str | None) -> ReadShape:
    """The `ReadShape` of a read (or a function call) with this negotiated media type."""
    applied = preference_applied(req, tx=None, write=False, timezone=timezone)
    ctype = content_type(media)
    if ctype.startswith("text/") and "charset=" not in ctype.lower():  # as Starlette does
        ctype += "; charset=utf-8"
    return ReadShape(applied.encode("latin-1") if applied else None, ctype.encode("latin-1"))


class _Ready(Response):
    """A Response from ready-made raw headers."""

    def __init__(self, body: bytes, status: int, raw_headers: list[tuple[bytes, bytes]]) -> None:
        self.status_code = status
        self.background = None
        self.body = body
        self.raw_headers = raw_headers


def read_response(shape: ReadShape, body: bytes, status: int, content_range: str) -> Response:
    """The response of a read: the raw headers Starlette's `Response` builds from
    `{"Content-Range": …, "Preference-Applied": …}` and the media type, in its order, without
    encoding the same names and values again for every request."""
    headers = [(b"content-range", content_range.encode("latin-1"))]
    if shape.applied is not None:
        headers.append((b"preference-applied", shape.applied))
    if not (status < 200 or status in (204, 304)):
        headers.append((b"content-length", b"%d" % len(body)))
    headers.append((b"content-type", shape.content_type))
    return _Ready(body, status, headers)


def apply_gucs(response: Response, headers: str | None, status: str | None) -> Response:
    """What the `response.headers` / `response.status` settings ask (PGRST111/112 when they are
    malformed): a header named there replaces NEO's own, repeated names are all sent."""
    if status is not None:
        code = int(status) if status.strip().isdigit() else 0
        if not 100 <= code <= 599:
            raise ResponseSettingError(
                "response.status guc must be a valid status code", code="PGRST112"
            )
        response.status_code = code
    if headers is not None:
        seen: set[str] = set()
        for name, value in _guc_headers(headers):
            if name.lower() in seen:
                response.headers.append(name, value)
            else:
                response.headers[name] = value
                seen.add(name.lower())
    return response


def _guc_headers(text: str) -> list[tuple[str, str]]:
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    pairs = [
        pair
        for item in (doc if isinstance(doc, list) else ())
        if isinstance(item, dict) and len(item) == 1
        for pair in item.items()
        if isinstance(pair[1], str) and _TOKEN.fullmatch(pair[0]) and _header_value(pair[1])
    ]
    if not isinstance(doc, list) or len(pairs) != len(doc):
        raise ResponseSettingError(
            "response.headers guc must be a JSON array composed of objects with a single key "
            "and a string value",
            code="PGRST111",
        )
    return pairs


def _header_value(value: str) -> bool:
    """A value HTTP/1.1 can carry as it is: latin-1, no control characters."""
    return not _CTL.search(value) and all(ord(c) < 256 for c in value)


def location(table: str, pk_json: str | None) -> str | None:
    """`/table?id=eq.1` for the first inserted row (return=headers-only)."""
    if not pk_json:
        return None
    values = json.loads(pk_json)
    query = "&".join(f"{quote(k)}=eq.{quote(_text(v))}" for k, v in values.items())
    return f"/{quote(table)}?{query}"


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if not isinstance(value, dict | list) else json.dumps(value)
