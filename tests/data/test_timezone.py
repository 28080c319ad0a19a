"""`Prefer: timezone` (zones checked against `pg_timezone_names`, PGRST122 under
`handling=strict`), on reads and writes, and how repeated `Prefer` headers and
`Preference-Applied` combine."""

from __future__ import annotations

import httpx
import pytest

EXTRA_SQL = """
create table events (id int primary key, at timestamptz not null);
insert into events values (1, '2024-01-01 12:00:00+00');
"""


async def test_timezone_preference_changes_the_output(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/rest/v1/events?select=at", headers={"Prefer": "timezone=America/Los_Angeles"}
    )
    assert response.status_code == 200
    assert response.json() == [{"at": "2024-01-01T04:00:00-08:00"}]
    assert response.headers["preference-applied"] == "timezone=America/Los_Angeles"


async def test_unknown_timezone_is_ignored_or_refused_when_strict(
    client: httpx.AsyncClient,
) -> None:
    plain = await client.get("/rest/v1/events?select=at")
    lenient = await client.get(
        "/rest/v1/events?select=at", headers={"Prefer": "timezone=Mars/Base"}
    )
    assert lenient.json() == plain.json()
    assert "preference-applied" not in lenient.headers
    strict = await client.get(
        "/rest/v1/events?select=at", headers={"Prefer": "handling=strict, timezone=Mars/Base"}
    )
    assert strict.status_code == 400
    assert strict.json()["code"] == "PGRST122"
    assert strict.json()["details"] == "Invalid preferences: timezone=Mars/Base"


@pytest.mark.parametrize(
    ("prefer", "applied"),
    [
        ("handling=strict, timezone=America/Los_Angeles",
         "handling=strict, timezone=America/Los_Angeles"),
        ("handling=lenient, timezone=Mars/Base", "handling=lenient"),
        ("timezone=UTC, count=exact", "count=exact, timezone=UTC"),
    ],
)  # fmt: skip
async def test_preference_applied_on_reads(
    client: httpx.AsyncClient, prefer: str, applied: str
) -> None:
    response = await client.get("/rest/v1/events?select=id", headers={"Prefer": prefer})
    assert response.status_code in (200, 206), response.text
    assert response.headers["preference-applied"] == applied


async def test_repeated_prefer_headers_are_read_together(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/rest/v1/events", headers=[("Prefer", "handling=strict"), ("Prefer", "something, else")]
    )
    assert response.status_code == 400
    assert response.json()["details"] == "Invalid preferences: something, else"


async def test_timezone_applies_to_writes(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/rest/v1/events",
        json={"id": 2, "at": "2024-06-01 00:00:00"},
        headers={"Prefer": "return=representation, timezone=Asia/Tokyo"},
    )
    assert response.status_code == 201, response.text
    assert response.json() == [{"id": 2, "at": "2024-06-01T00:00:00+09:00"}]
    assert "timezone=Asia/Tokyo" in response.headers["preference-applied"]
