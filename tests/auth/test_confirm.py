"""Sign-up with confirmations on (autoconfirm off): the confirmation mail and link, and a
sign-up for a taken address that looks exactly like a new one (auth-security A1)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.auth.conftest import ANON, V2, mailbox, password_login, random_email


@pytest.fixture(scope="module")
def auth_overrides() -> dict[str, Any]:
    return {"autoconfirm": False}


def key_set(value: Any, prefix: str = "") -> set[str]:
    """Every key path of a JSON document."""
    if isinstance(value, dict):
        return {f"{prefix}.{k}" for k in value} | {
            p for k, v in value.items() for p in key_set(v, f"{prefix}.{k}")
        }
    if isinstance(value, list):
        return {p for v in value for p in key_set(v, f"{prefix}[]")}
    return set()


async def signup(client: httpx.AsyncClient, email: str) -> httpx.Response:
    body = {"email": email, "password": "correct horse 1"}
    return await client.post("/auth/v1/signup", json=body, headers=ANON | V2)


async def test_signup_returns_a_user_and_mails_a_link(client: httpx.AsyncClient) -> None:
    email = random_email()
    response = await signup(client, email)
    assert response.status_code == 200
    user = response.json()
    assert "access_token" not in user
    assert user["confirmation_sent_at"]
    assert "email_confirmed_at" not in user
    login = await password_login(client, email, "correct horse 1")
    assert login.status_code == 400
    assert login.json()["code"] == "email_not_confirmed"
    [mail] = await mailbox(client, email)
    assert mail["kind"] == "signup"
    parts = urlsplit(mail["link"])
    redirect = await client.get(f"{parts.path}?{parts.query}")
    assert redirect.status_code == 303
    assert parse_qs(urlsplit(redirect.headers["location"]).fragment)["type"] == ["signup"]
    assert (await password_login(client, email, "correct horse 1")).status_code == 200


async def test_signup_for_a_taken_address_looks_like_a_new_one(client: httpx.AsyncClient) -> None:
    taken = random_email()
    await signup(client, taken)
    parts = urlsplit((await mailbox(client, taken))[0]["link"])
    await client.get(f"{parts.path}?{parts.query}")  # confirmed
    again = await signup(client, taken)
    fresh = await signup(client, random_email())
    assert again.status_code == fresh.status_code == 200
    assert key_set(again.json()) == key_set(fresh.json())
    assert len(again.json()["identities"]) == len(fresh.json()["identities"]) == 1
    kinds = [m["kind"] for m in await mailbox(client, taken)]
    assert kinds[0] == "already_registered"
    assert (await password_login(client, taken, "correct horse 1")).status_code == 200


async def test_resend_confirmation(client: httpx.AsyncClient) -> None:
    email = random_email()
    await signup(client, email)
    response = await client.post(
        "/auth/v1/resend", json={"type": "signup", "email": email}, headers=ANON | V2
    )
    assert response.status_code == 200
    mails = await mailbox(client, email)
    assert [m["kind"] for m in mails] == ["signup", "signup"]
    old = parse_qs(urlsplit(mails[1]["link"]).query)["token"][0]
    stale = await client.post(
        "/auth/v1/verify", json={"type": "signup", "token_hash": old}, headers=ANON | V2
    )
    assert stale.status_code == 403
