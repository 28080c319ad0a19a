"""auth-security A (account enumeration): sign-up, the mail endpoints, verification and login
answer alike, in body, mail side effects and time, whether or not an account exists."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from statistics import median
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from neo.settings import Settings
from tests.auth.conftest import ANON, V2, auth_settings, mailbox, password_login, random_email
from tests.auth.test_confirm import key_set
from tests.support.servers import asgi_client, running_app

# Confirmations on, GoTrue's mail cooldown on, login back-off off (A3 counts many failures),
# and the OWASP-minimum argon2id so that one hash dominates a request's time (A3).
SETTINGS = auth_settings(
    autoconfirm=False,
    argon2_memory_kib=19456,
    argon2_time_cost=2,
    rate_limits={"email_min_interval": 60, "email_per_recipient": 5, "login_failures": 0},
)
PASSWORD = "correct horse 1"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app(make_settings: Callable[..., Settings]) -> AsyncIterator[FastAPI]:
    async with running_app(make_settings(auth=SETTINGS)) as app:
        yield app


@pytest_asyncio.fixture(loop_scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as client:
        yield client


async def post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post(f"/auth/v1/{path}", json=body, headers=ANON | V2)


async def confirmed_user(client: httpx.AsyncClient) -> str:
    """A signed-up address whose confirmation link was followed."""
    email = random_email()
    assert (await post(client, "signup", {"email": email, "password": PASSWORD})).is_success
    parts = urlsplit((await mailbox(client, email))[0]["link"])
    await client.get(f"{parts.path}?{parts.query}")
    return email


async def sql(database_url: str, query: str, *args: Any) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(query, *args)
    finally:
        await conn.close()


async def test_signup_for_a_taken_address_is_indistinguishable(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """A1: same status, same recursive key set, no `identities: []`, one mail each."""
    taken, fresh = await confirmed_user(client), random_email()
    await sql(database_url, "delete from neo_auth.throttles where key like 'email:%'")
    before = len(await mailbox(client, taken))
    again = await post(client, "signup", {"email": taken, "password": "another password"})
    new = await post(client, "signup", {"email": fresh, "password": "another password"})
    assert again.status_code == new.status_code == 200
    assert key_set(again.json()) == key_set(new.json())
    assert len(again.json()["identities"]) == len(new.json()["identities"]) == 1
    assert len(await mailbox(client, taken)) - before == 1
    assert len(await mailbox(client, fresh)) == 1
    assert (await password_login(client, taken, "another password")).status_code == 400


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("recover", {}),
        ("otp", {"create_user": False}),
        ("magiclink", {"create_user": False}),
        ("resend", {"type": "signup"}),
        ("resend", {"type": "email_change"}),
        (
            "otp",
            {"create_user": False, "code_challenge": "c" * 43, "code_challenge_method": "s256"},
        ),
    ],
)
async def test_mail_endpoints_answer_alike_even_when_repeated(
    client: httpx.AsyncClient, path: str, body: dict[str, Any]
) -> None:
    """A2, A4: twice within a second for a known and an unknown address; the cooldown
    (`email_min_interval`) drops the second mail for both without changing the answer."""
    known, unknown = await confirmed_user(client), random_email()
    answers = []
    started = time.monotonic()
    for email in (known, known, unknown, unknown):
        response = await post(client, path, body | {"email": email})
        answers.append((response.status_code, response.content))
    assert time.monotonic() - started < 5
    assert len(set(answers)) == 1, answers
    assert answers[0][0] == 200
    assert await mailbox(client, unknown) == []


async def test_wrong_code_for_known_and_unknown_address_answers_alike(
    client: httpx.AsyncClient,
) -> None:
    """A4: /verify with a guessed code tells nothing about the address."""
    known = await confirmed_user(client)
    await post(client, "otp", {"email": known, "create_user": False})
    code = (await mailbox(client, known))[-1]["code"]
    guess = "123456" if code != "123456" else "654321"
    answers = set()
    for email in (known, random_email()):
        for kind in ("email", "recovery", "magiclink"):
            response = await post(client, "verify", {"type": kind, "email": email, "token": guess})
            answers.add((kind, response.status_code, response.content))
    assert len({(status, body) for _, status, body in answers}) == 1, answers


async def test_every_login_failure_answers_alike_and_takes_a_hash(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """A3: unknown user, wrong password, unconfirmed and banned users (wrong password): one
    status, one body, and the median latency within a factor of 2 of a real hash check.

    Interleaved rounds on one connection keep machine load common to every kind; without the
    dummy hash the unknown-user median is ~10x smaller, far outside the margin."""
    known = await confirmed_user(client)
    unconfirmed, banned = random_email(), await confirmed_user(client)
    await post(client, "signup", {"email": unconfirmed, "password": PASSWORD})
    await sql(database_url, "update auth.users set banned_until = now() + interval '1 day'"
              " where email = $1", banned)  # fmt: skip
    kinds = {"unknown": None, "wrong": known, "unconfirmed": unconfirmed, "banned": banned}
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    answers = set()
    for round_ in range(7):
        for kind, email in kinds.items():
            started = time.perf_counter()
            response = await password_login(client, email or random_email(), f"bad pw {round_}")
            times[kind].append(time.perf_counter() - started)
            answers.add((response.status_code, response.content))
    assert answers == {
        (400, b'{"code":"invalid_credentials","message":"Invalid login credentials"}')
    }
    reference = median(times["wrong"])
    for kind, samples in times.items():
        assert 0.5 < median(samples) / reference < 2.0, (kind, times)
