"""auth-security F (one-time links, PKCE, redirects, cookies, CSRF, CORS): link secrets stored
only as hashes, PKCE codes that race once and burn on a wrong verifier, a table of redirect
bypasses, no cookies (so no cookie CSRF), and CORS without credentials or foreign origins.
Single use, expiry and purpose binding (F1), scanner-safe links (F2) and OIDC linking and
state (F5) are in test_emails.py, test_link_page.py and test_oauth.py."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import re
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs, quote, urljoin, urlsplit

import asyncpg
import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from neo.auth.settings import AuthSettings
from neo.settings import Settings
from tests.auth.conftest import (
    ANON,
    V2,
    auth_settings,
    bearer,
    mailbox,
    password_login,
    random_email,
    refresh,
    sign_up,
)
from tests.auth.test_oauth import auth_overrides, provider  # noqa: F401  (F5's provider)
from tests.support.servers import asgi_client, running_app

SITE = "http://localhost:3000"
ALLOWED = ["http://localhost:3000/**", "https://allowed.com/docs"]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app(make_settings: Callable[..., Settings]) -> AsyncIterator[FastAPI]:
    settings = make_settings(
        auth=auth_settings(uri_allow_list=ALLOWED), api={"cors_origins": [SITE]}
    )
    async with running_app(settings) as app:
        yield app


@pytest_asyncio.fixture(loop_scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as client:
        yield client


async def post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post(f"/auth/v1/{path}", json=body, headers=ANON | V2)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.decode().rstrip("=")


async def pkce_code(client: httpx.AsyncClient, challenge: str) -> str:
    """A fresh user's magic link followed: the auth code of its PKCE redirect."""
    email = random_email()
    await sign_up(client, email)
    await post(client, "otp", {"email": email, "code_challenge": challenge,
                               "code_challenge_method": "s256"})  # fmt: skip
    parts = urlsplit((await mailbox(client, email))[-1]["link"])
    redirect = await client.get(f"{parts.path}?{parts.query}")
    return parse_qs(urlsplit(redirect.headers["location"]).query)["code"][0]


async def test_link_tokens_and_codes_are_stored_only_hashed(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """F1: neither the link token nor the short code appears in the database."""
    email = random_email()
    await sign_up(client, email)
    await post(client, "recover", {"email": email})
    [mail] = await mailbox(client, email)
    token = parse_qs(urlsplit(mail["link"]).query)["token"][0]
    conn = await asyncpg.connect(database_url)
    try:
        dump = await conn.fetchval(
            "select string_agg(t::text, ' ') from auth.one_time_tokens t"
            " join auth.users u on u.id = t.user_id where u.email = $1",
            email,
        )
    finally:
        await conn.close()
    assert dump
    assert token not in dump
    assert mail["code"] not in dump


def test_one_time_lifetimes_are_at_most_ten_minutes() -> None:
    """F1, F3: link/code and PKCE flow-state lifetimes default to <= 10 min; no plain PKCE."""
    settings = AuthSettings()
    assert settings.otp_expiry <= 600
    assert settings.flow_state_expiry <= 600
    assert settings.pkce_allow_plain is False


async def test_parallel_pkce_exchanges_succeed_once(client: httpx.AsyncClient) -> None:
    """F3: two racing grant_type=pkce requests with one code -> exactly one 200."""
    verifier, challenge = pkce_pair()
    grant = {"auth_code": await pkce_code(client, challenge), "code_verifier": verifier}
    first, second = await asyncio.gather(
        post(client, "token?grant_type=pkce", grant), post(client, "token?grant_type=pkce", grant)
    )
    assert sorted([first.status_code, second.status_code])[0] == 200
    assert [first.status_code, second.status_code].count(200) == 1


async def test_wrong_verifier_burns_the_code(client: httpx.AsyncClient) -> None:
    """F3: 400 bad_code_verifier, after which the right verifier fails too."""
    verifier, challenge = pkce_pair()
    code = await pkce_code(client, challenge)
    wrong = await post(client, "token?grant_type=pkce",
                       {"auth_code": code, "code_verifier": secrets.token_urlsafe(48)})  # fmt: skip
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "bad_code_verifier"
    right = await post(client, "token?grant_type=pkce",
                       {"auth_code": code, "code_verifier": verifier})  # fmt: skip
    assert right.status_code in (400, 404)


async def test_short_verifier_is_refused(client: httpx.AsyncClient) -> None:
    """F3: a challenge or verifier outside 43-128 characters is refused."""
    short = await post(client, "otp", {"email": random_email(), "code_challenge": "x" * 42,
                                       "code_challenge_method": "s256"})  # fmt: skip
    assert short.status_code == 400


BYPASSES = [
    "https://evil.com",
    "//evil.com",
    "https:\\\\evil.com",
    "https:/\\evil.com",
    "https://allowed.com.evil.com/docs",
    "https://allowed.com@evil.com/docs",
    "https://allowed.comevil.com/docs",
    "https://allowed.com/docss",
    "https://allowed.com/docs/../admin",
    "https://allowed.com/docs/%2e%2e/admin",
    "http://allowed.com/docs",
    "https://allowed.com:8443/docs",
    "javascript:alert(1)",
    "JavaScript://localhost:3000/%0aalert(1)",
    "data:text/html,<script>alert(1)</script>",
    "http://2130706433",
    "http://[::1]/",
    "http://127.0.0.1:3000/",
    "https://\u0430llowed.com/docs",  # Cyrillic a: an IDN homograph
    "http://localhost:3000\r\nSet-Cookie: x=1",
    "http://localhost:3000.evil.com/",
    "http://localhost:3000@evil.com/",
    "/\\evil.com",
]


@pytest.mark.parametrize("target", BYPASSES)
async def test_redirect_bypasses_fall_back_to_the_site_url(
    client: httpx.AsyncClient, target: str
) -> None:
    """F4: none of the classic allow-list bypasses survives; each falls back to site_url."""
    email = random_email()
    await sign_up(client, email)
    await post(client, f"recover?redirect_to={quote(target, safe='')}", {"email": email})
    [mail] = await mailbox(client, email)
    assert parse_qs(urlsplit(mail["link"]).query)["redirect_to"][0] == SITE


@pytest.mark.parametrize(
    "target", ["https://allowed.com/docs", "https://allowed.com/docs/page", f"{SITE}/x?y=1"]
)
async def test_allowed_redirects_are_kept(client: httpx.AsyncClient, target: str) -> None:
    """F4: the other side: allow-listed targets (with a path-segment boundary) are kept."""
    email = random_email()
    await sign_up(client, email)
    await post(client, f"recover?redirect_to={quote(target, safe='')}", {"email": email})
    [mail] = await mailbox(client, email)
    assert parse_qs(urlsplit(mail["link"]).query)["redirect_to"][0] == target


async def test_no_response_sets_a_cookie(client: httpx.AsyncClient) -> None:
    """F6: NEO keeps no session in cookies (tokens travel in bodies and headers), so the
    cookie attribute rules have nothing to apply to; this pins it."""
    email = random_email()
    session = await sign_up(client, email)
    responses = [
        await password_login(client, email, "correct horse 1"),
        await refresh(client, session["refresh_token"]),
        await client.get("/auth/v1/user", headers=bearer(session)),
        await post(client, "recover", {"email": email}),
    ]
    parts = urlsplit((await mailbox(client, email))[-1]["link"])
    responses.append(await client.get(f"{parts.path}?{parts.query}"))
    responses.append(await client.post("/auth/v1/logout", headers=bearer(session)))
    for response in responses:
        assert "set-cookie" not in response.headers, response.request.url


async def test_a_cookie_alone_authenticates_nothing(client: httpx.AsyncClient) -> None:
    """F7: without cookie authentication a cross-site form post carries no credentials."""
    session = await sign_up(client)
    token = session["access_token"]
    cookies = {"sb-access-token": token, "sb-neo-auth-token": token, "access_token": token}
    headers = ANON | {"Origin": "https://evil.com", "Cookie": "; ".join(
        f"{k}={v}" for k, v in cookies.items())}  # fmt: skip
    me = await client.get("/auth/v1/user", headers=headers)
    assert me.status_code in (401, 403)
    logout = await client.post("/auth/v1/logout", headers=headers)
    assert logout.status_code in (401, 403)
    assert (await client.get("/auth/v1/user", headers=bearer(session))).status_code == 200


async def test_cors_never_echoes_a_foreign_origin_or_allows_credentials(
    client: httpx.AsyncClient,
) -> None:
    """F8: a preflight from evil.com gets no allow-origin; no answer allows credentials."""
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,apikey,content-type"}  # fmt: skip
    evil = await client.options(
        "/auth/v1/token", headers=preflight | {"Origin": "https://evil.com"}
    )
    assert evil.headers.get("access-control-allow-origin") in (None, "*")
    assert "access-control-allow-credentials" not in evil.headers
    good = await client.options("/auth/v1/token", headers=preflight | {"Origin": SITE})
    assert good.headers.get("access-control-allow-origin") == SITE
    assert "access-control-allow-credentials" not in good.headers


def callback_url(server_url: str) -> str:
    """Drive a browser through /authorize and the provider until it is sent to NEO's
    /callback; that URL (code + state), not yet visited."""
    url, method, data = f"{server_url}/auth/v1/authorize?provider=oidc", "GET", None
    with httpx.Client(timeout=10) as browser:
        for _ in range(20):
            response = browser.request(method, url, data=data)
            method, data = "GET", None
            if response.status_code in (302, 303):
                url = urljoin(url, response.headers["location"])
                if url.startswith(f"{server_url}/auth/v1/callback"):
                    return url
                continue
            action = html.unescape(re.findall(r'<form[^>]*action="([^"]+)"', response.text)[0])
            login = {"prompt": "login", "login": "verified+replay@example.com", "password": "x"}
            data = login if 'name="login"' in response.text else {"prompt": "consent"}
            url, method = urljoin(url, action), "POST"
    raise AssertionError("the provider never redirected to the callback")


@pytest.mark.usefixtures("provider")
def test_replayed_callback_is_refused(server_url: str) -> None:
    """F5: state (and the nonce stored with it) is single-use: a replayed callback fails."""
    url = callback_url(server_url)
    first = httpx.get(url)
    assert first.status_code in (302, 303)
    assert "access_token=" in first.headers["location"]
    replay = httpx.get(url)
    assert replay.status_code in (302, 303)
    assert "error_code=bad_oauth_state" in replay.headers["location"]
