"""The password grant counts against the client IP's token limit in the statement that
finds the user (`find_login`): over the limit, 429 with Retry-After, even for the right
password."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.auth.conftest import password_login, random_email, sign_up


@pytest.fixture(scope="module")
def auth_overrides() -> dict[str, Any]:
    return {"rate_limits": {"token_per_ip": 3, "token_window": 300}}


async def test_sign_ins_over_the_ip_limit_are_refused(client: httpx.AsyncClient) -> None:
    email = random_email()
    await sign_up(client, email)
    statuses = [(await password_login(client, email, "correct horse 1")).status_code
                for _ in range(3)]  # fmt: skip
    assert statuses == [200, 200, 200]
    blocked = await password_login(client, email, "correct horse 1")
    assert blocked.status_code == 429
    assert blocked.json()["code"] == "over_request_rate_limit"
    assert 0 < int(blocked.headers["retry-after"]) <= 300
    unknown = await password_login(client, random_email(), "wrong password")
    assert unknown.status_code == 429  # before any user lookup or hash
