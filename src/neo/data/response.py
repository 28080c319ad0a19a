"""Response shaping as PostgREST does it: status codes, Content-Range, Preference-Applied,
Location, media types, and the 206/416 rules of range requests."""

from __future__ import annotations

import json
from urllib.parse import quote

from neo.data.errors import ApiError
from neo.data.request import ApiRequest, Media

CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "object": "application/vnd.pgrst.object+json; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "openapi": "application/openapi+json; charset=utf-8",
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


def preference_applied(req: ApiRequest, *, tx: str | None, write: bool) -> str | None:
    """The preferences NEO honoured, echoed as `Preference-Applied`."""
    names = ["count"] + (["return", "resolution", "missing", "handling"] if write else [])
    applied = [f"{n}={req.prefer.get(n)}" for n in names if req.prefer.get(n)]
    if write and req.prefer.max_affected is not None and req.prefer.get("handling") == "strict":
        applied.append(f"max-affected={req.prefer.max_affected}")
    if tx:
        applied.append(f"tx={tx}")
    return ", ".join(applied) or None


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
