"""PostgREST's error bodies and status codes (spec §2.10).

`ApiError` is the family raised by the parser, planner and executor; `from_postgres` maps a
PostgreSQL error to PostgREST's status by SQLSTATE; `render_postgrest_error` renders any
`NeoError` under `/rest/v1` as `{code, details, hint, message}` with a `Proxy-Status` header,
including the gateway's token and role errors.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

import asyncpg
from starlette.requests import Request
from starlette.responses import Response

from neo.core.errors import InvalidToken, NeoError, UnknownRole

JSON_CT = "application/json; charset=utf-8"


class ApiError(NeoError):
    """An error of the data API with PostgREST's code (PGRSTxxx or a SQLSTATE)."""

    status, code, message = 400, "PGRST000", "Bad request"


class ResponseSettingError(ApiError):
    """PGRST111/112: a function set `response.headers`/`response.status` to something
    unusable; the message names the setting, not internals, so a 500 shows it."""

    status, expose = 500, True


def parse_error(what: str, text: str, details: str) -> ApiError:
    """PGRST100: the query string does not parse."""
    return ApiError(
        f'"failed to parse {what} ({text})" (line 1, column 1)', code="PGRST100", details=details
    )


def not_found_table(schema: str, name: str, known: list[str] | None = None) -> ApiError:
    """PGRST205: no such table or view in the schema cache (with a hint for a near miss)."""
    close = difflib.get_close_matches(name, known or [], n=1)
    return ApiError(
        f"Could not find the table '{schema}.{name}' in the schema cache",
        status=404,
        code="PGRST205",
        hint=f"Perhaps you meant the table '{schema}.{close[0]}'" if close else None,
    )


def unknown_column(column: str, table: str) -> ApiError:
    """PGRST204: a written column is not in the schema cache."""
    return ApiError(
        f"Could not find the '{column}' column of '{table}' in the schema cache", code="PGRST204"
    )


def missing_column(table: str, column: str) -> ApiError:
    """42703 as PostgreSQL words it, for a column read or filtered that does not exist."""
    return ApiError(f"column {table}.{column} does not exist", code="42703")


def invalid_schema(schema: str, exposed: list[str]) -> ApiError:
    """PGRST106: Accept-Profile/Content-Profile names a schema that is not exposed."""
    return ApiError(
        f"Invalid schema: {schema}",
        status=406,
        code="PGRST106",
        hint=f"Only the following schemas are exposed: {', '.join(exposed)}",
    )


def not_acceptable(media: str) -> ApiError:
    """PGRST107: no media type we can produce."""
    return ApiError(
        f"None of these media types are available: {media}", status=406, code="PGRST107"
    )


def singular(rows: int) -> ApiError:
    """PGRST116: the object media type needs exactly one row."""
    return ApiError(
        "Cannot coerce the result to a single JSON object",
        status=406,
        code="PGRST116",
        details=f"The result contains {rows} rows",
    )


def http_status_for(sqlstate: str, message: str, *, authenticated: bool) -> int:
    """PostgREST's SQLSTATE → HTTP mapping."""
    exact = {
        "23503": 409,
        "23505": 409,
        "25006": 405,
        "42883": 404,
        "42P01": 404,
        "42P17": 500,
        "53400": 500,
        "57P01": 503,
        "P0001": 400,
        "22023": 400,
    }
    if sqlstate == "42501":
        return 403 if authenticated else 401
    if sqlstate == "21000":
        return 400 if "requires a WHERE clause" in message else 500
    if sqlstate == "22023" and message.startswith("role ") and message.endswith("does not exist"):
        return 401
    if sqlstate in exact:
        return exact[sqlstate]
    if sqlstate.startswith("PT") and sqlstate[2:].isdigit():
        return int(sqlstate[2:])
    for prefixes, status in _BY_CLASS:
        if sqlstate.startswith(prefixes):
            return status
    return 400


_BY_CLASS: list[tuple[tuple[str, ...], int]] = [
    (("08", "53"), 503),
    (
        ("09", "25", "2D", "38", "39", "3B", "40", "54", "55", "57", "58", "F0", "HV", "XX", "P0"),
        500,
    ),
    (("0L", "0P", "28"), 403),
]


def from_postgres(exc: asyncpg.PostgresError, *, authenticated: bool) -> ApiError:
    """The PostgREST error for a PostgreSQL error (its own code, message, detail, hint)."""
    sqlstate = str(getattr(exc, "sqlstate", "") or "XX000")
    message = str(getattr(exc, "message", "") or exc)
    status = http_status_for(sqlstate, message, authenticated=authenticated)
    error = ApiError(
        message,
        status=status,
        code=sqlstate,
        details=getattr(exc, "detail", None),
        hint=getattr(exc, "hint", None),
    )
    if status >= 500:
        error.code, error.message = sqlstate, message  # kept for the log; body is redacted
    return error


def body_of(code: str, message: str, details: Any = None, hint: str | None = None) -> bytes:
    """The JSON error body, keys in PostgREST's order."""
    doc = {"code": code, "details": details, "hint": hint, "message": message}
    return json.dumps(doc, separators=(",", ":")).encode()


def render_postgrest_error(error: NeoError, request: Request) -> Response:
    """Render any NeoError under /rest/v1 as PostgREST does."""
    status, code, message = error.status, error.code, error.message
    details, hint = error.details, error.hint
    headers = dict(error.headers)
    if isinstance(error, InvalidToken):
        claims = error.expired or error.reason.startswith(_CLAIM_ERRORS)
        code = "PGRST303" if claims else "PGRST301"
        message = "JWT expired" if error.expired else error.reason
        headers["WWW-Authenticate"] = (
            f'Bearer error="invalid_token", error_description="{_quote(message)}"'
        )
    elif isinstance(error, UnknownRole):
        code = "22023"
    elif status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    elif not isinstance(error, ApiError) and status < 500:
        code = {404: "PGRST125", 405: "PGRST117"}.get(status, code)
    headers["Proxy-Status"] = f"PostgREST; error={code}"
    body = b"" if request.method == "HEAD" else body_of(code, message, details, hint)
    return Response(body, status_code=status, headers=headers, media_type=JSON_CT)


_CLAIM_ERRORS = ("JWT expired", "JWT not in audience", "JWT issuer", "JWT not yet valid")


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
