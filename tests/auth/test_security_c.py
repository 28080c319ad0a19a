"""auth-security C (brute force and rate limits): the per-account back-off is kept in
Postgres, so two app instances on one database share it (C1), and a recipient's mails stay
capped however often /recover is called (C4). The single-instance back-off, the per-IP
limits and the one-time-code caps are in test_throttle.py, test_sessions.py,
test_emails.py and test_mfa.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from neo.settings import Settings
from tests.auth.conftest import (
    ANON,
    V2,
    auth_settings,
    mailbox,
    password_login,
    random_email,
    sign_up,
)
from tests.support.servers import asgi_client, running_app

LIMITS = {"login_failures": 5, "email_per_recipient": 3, "email_min_interval": 0}


@pytest.fixture(scope="module")
def auth_overrides() -> dict[str, Any]:
    return {"rate_limits": LIMITS}


async def test_two_instances_share_the_login_back_off(
    client: httpx.AsyncClient, make_settings: Callable[..., Settings]
) -> None:
    """C1: failures split across two instances on one database still trip the limit, and
    the 429 comes even with the right password (no oracle)."""
    email = random_email()
    await sign_up(client, email)
    settings = make_settings(auth=auth_settings(rate_limits=LIMITS))
    async with running_app(settings) as other_app, asgi_client(other_app) as other:
        for attempt in range(5):
            instance = client if attempt % 2 else other
            assert (await password_login(instance, email, "wrong password")).status_code == 400
        for instance in (client, other):
            blocked = await password_login(instance, email, "correct horse 1")
            assert blocked.status_code == 429
            assert blocked.json()["code"] == "over_request_rate_limit"
            assert int(blocked.headers["retry-after"]) > 0


async def test_a_hundred_recover_calls_send_at_most_the_cap(client: httpx.AsyncClient) -> None:
    """C4: 100 x /recover for one address -> every answer 200, at most N mails."""
    email = random_email()
    await sign_up(client, email)
    for _ in range(100):
        response = await client.post("/auth/v1/recover", json={"email": email}, headers=ANON | V2)
        assert response.status_code == 200
    assert len(await mailbox(client, email)) <= LIMITS["email_per_recipient"]
