"""PostgREST's SQLSTATE → HTTP status table (spec §2.10) and the error body shape."""

from __future__ import annotations

import json

import httpx
import pytest

from neo.data.errors import body_of, http_status_for


@pytest.mark.parametrize(
    ("sqlstate", "message", "authenticated", "status"),
    [
        ("08006", "", True, 503),
        ("09000", "", True, 500),
        ("0L000", "", True, 403),
        ("0P000", "", True, 403),
        ("21000", "UPDATE requires a WHERE clause", True, 400),
        ("21000", "more than one row returned by a subquery", True, 500),
        ("22023", 'role "x" does not exist', True, 401),
        ("22023", "invalid parameter", True, 400),
        ("22P02", "invalid input syntax", True, 400),
        ("23502", "null value", True, 400),
        ("23503", "fk", True, 409),
        ("23505", "unique", True, 409),
        ("23514", "check", True, 400),
        ("25006", "read-only transaction", True, 405),
        ("25P02", "", True, 500),
        ("28000", "", True, 403),
        ("2D000", "", True, 500),
        ("38000", "", True, 500),
        ("39000", "", True, 500),
        ("3B000", "", True, 500),
        ("40001", "", True, 500),
        ("42501", "permission denied", False, 401),
        ("42501", "permission denied", True, 403),
        ("42883", "undefined function", True, 404),
        ("42P01", "undefined table", True, 404),
        ("42P17", "infinite recursion", True, 500),
        ("42703", "undefined column", True, 400),
        ("53400", "", True, 500),
        ("53300", "", True, 503),
        ("54000", "", True, 500),
        ("55P03", "", True, 500),
        ("57014", "", True, 500),
        ("57P01", "", True, 503),
        ("58000", "", True, 500),
        ("F0000", "", True, 500),
        ("HV000", "", True, 500),
        ("XX000", "", True, 500),
        ("P0001", "raise", True, 400),
        ("P0002", "", True, 500),
        ("PT418", "", True, 418),
        ("PT402", "", True, 402),
    ],
)
def test_sqlstate_to_http(sqlstate: str, message: str, authenticated: bool, status: int) -> None:
    assert http_status_for(sqlstate, message, authenticated=authenticated) == status


def test_error_body_has_postgrest_keys_in_order() -> None:
    body = body_of("PGRST116", "m", "d", None)
    assert list(json.loads(body)) == ["code", "details", "hint", "message"]


async def test_errors_from_the_fast_lane_carry_request_ids_and_postgrest_shape(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/rest/v1/no_such_table_anywhere")
    assert response.status_code == 404
    assert set(response.json()) == {"code", "details", "hint", "message"}
    assert response.headers["x-request-id"]
    assert response.headers["proxy-status"].startswith("PostgREST")
