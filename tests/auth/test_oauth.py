"""OAuth / OIDC sign-in against a real OpenID provider (oidc-provider from npm) on loopback:
implicit and PKCE redirects, linking only on a verified email (F5), tampered state."""

from __future__ import annotations

import base64
import hashlib
import html
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from neo.kit.net import free_port
from tests.auth.conftest import ANON, V2
from tests.conftest import DEMO_ANON_KEY

OIDC_DIR = Path(__file__).parent / "oidc"
APP = "http://localhost:3000"
PORT = free_port()


@pytest.fixture(scope="module")
def auth_overrides() -> dict[str, Any]:
    return {
        "external": {
            "oidc": {
                "client_id": "neo",
                "secret": "neo-client-secret",
                "issuer": f"http://127.0.0.1:{PORT}",
                "scopes": ["openid", "email", "profile"],
            }
        }
    }


@pytest.fixture(scope="module")
def provider(server_url: str) -> Iterator[str]:
    """The OpenID provider, started once NEO's callback URL is known."""
    if not (OIDC_DIR / "node_modules" / "oidc-provider").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--silent"],
            cwd=OIDC_DIR, check=True, timeout=300,
        )  # fmt: skip
    env = os.environ | {"PORT": str(PORT), "REDIRECT_URI": f"{server_url}/auth/v1/callback"}
    process = subprocess.Popen(
        ["node", "server.js"], cwd=OIDC_DIR, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        yield f"http://127.0.0.1:{PORT}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def sign_in(server_url: str, login: str, query: str = "", start: str | None = None) -> str:
    """Drive a browser through /authorize, the provider's login and consent: NEO's redirect."""
    url = start or f"{server_url}/auth/v1/authorize?provider=oidc&redirect_to={APP}/cb{query}"
    method, data = "GET", None
    with httpx.Client(timeout=10) as browser:
        for _ in range(20):
            response = browser.request(method, url, data=data)
            method, data = "GET", None
            if response.status_code in (302, 303):
                url = urljoin(url, response.headers["location"])
                if url.startswith(APP):
                    return url
                continue
            assert response.status_code == 200, response.text
            action = html.unescape(re.findall(r'<form[^>]*action="([^"]+)"', response.text)[0])
            if 'name="login"' in response.text:
                data = {"prompt": "login", "login": login, "password": "any"}
            else:
                data = {"prompt": "consent"}
            url, method = urljoin(url, action), "POST"
    raise AssertionError("the sign-in did not come back to the app")


def test_new_account_signs_in_with_a_session(server_url: str, provider: str) -> None:
    location = sign_in(server_url, "verified+ada@example.com")
    assert location.startswith(f"{APP}/cb#")
    fragment = parse_qs(urlsplit(location).fragment)
    assert fragment["token_type"] == ["bearer"]
    assert fragment["provider_token"]
    headers = {"apikey": DEMO_ANON_KEY, "Authorization": f"Bearer {fragment['access_token'][0]}"}
    user = httpx.get(f"{server_url}/auth/v1/user", headers=headers).json()
    assert user["email"] == "ada@example.com"
    assert user["app_metadata"]["provider"] == "oidc"
    assert [i["provider"] for i in user["identities"]] == ["oidc"]
    again = parse_qs(urlsplit(sign_in(server_url, "verified+ada@example.com")).fragment)
    headers["Authorization"] = f"Bearer {again['access_token'][0]}"
    assert httpx.get(f"{server_url}/auth/v1/user", headers=headers).json()["id"] == user["id"]


def test_pkce_sign_in_returns_a_code(server_url: str, provider: str) -> None:
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode()
    query = f"&code_challenge={challenge.rstrip('=')}&code_challenge_method=s256"
    location = sign_in(server_url, "verified+pkce@example.com", query)
    code = parse_qs(urlsplit(location).query)["code"][0]
    response = httpx.post(
        f"{server_url}/auth/v1/token?grant_type=pkce",
        json={"auth_code": code, "code_verifier": verifier},
        headers=ANON | V2,
    )
    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == "pkce@example.com"


def test_links_only_on_a_verified_email(server_url: str, provider: str) -> None:
    for email in ("linked@example.com", "kept@example.com"):
        body = {"email": email, "password": "correct horse 1"}
        assert (
            httpx.post(f"{server_url}/auth/v1/signup", json=body, headers=ANON).status_code == 200
        )
    refused = sign_in(server_url, "unverified+kept@example.com")
    assert parse_qs(urlsplit(refused).query)["error_code"] == ["email_exists"]
    linked = parse_qs(urlsplit(sign_in(server_url, "verified+linked@example.com")).fragment)
    headers = {"apikey": DEMO_ANON_KEY, "Authorization": f"Bearer {linked['access_token'][0]}"}
    user = httpx.get(f"{server_url}/auth/v1/user", headers=headers).json()
    assert sorted(i["provider"] for i in user["identities"]) == ["email", "oidc"]
    assert user["app_metadata"]["providers"] == ["email", "oidc"]


def test_tampered_state_is_refused(server_url: str, provider: str) -> None:
    response = httpx.get(
        f"{server_url}/auth/v1/callback",
        params={"code": "x", "state": "00000000-0000-0000-0000-000000000000"},
    )
    assert response.status_code == 303
    assert "error_code=bad_oauth_state" in response.headers["location"]


def test_unknown_provider_is_a_400(server_url: str) -> None:
    response = httpx.get(f"{server_url}/auth/v1/authorize?provider=nope", headers=V2)
    assert response.status_code == 400
    assert response.json()["code"] == "validation_failed"


def test_link_and_unlink_an_identity(server_url: str, provider: str) -> None:
    email = "linker@example.com"
    body = {"email": email, "password": "correct horse 1"}
    session = httpx.post(f"{server_url}/auth/v1/signup", json=body, headers=ANON).json()
    headers = ANON | {"Authorization": f"Bearer {session['access_token']}"}
    start = httpx.get(
        f"{server_url}/auth/v1/user/identities/authorize",
        params={"provider": "oidc", "redirect_to": f"{APP}/cb", "skip_http_redirect": "true"},
        headers=headers,
    ).json()["url"]
    location = sign_in(server_url, "unverified+someone-else@example.com", start=start)
    assert "access_token=" in location
    user = httpx.get(f"{server_url}/auth/v1/user", headers=headers).json()
    assert sorted(i["provider"] for i in user["identities"]) == ["email", "oidc"]
    taken = httpx.get(
        f"{server_url}/auth/v1/user/identities/authorize",
        params={"provider": "oidc", "redirect_to": f"{APP}/cb", "skip_http_redirect": "true"},
        headers=ANON | {"Authorization": f"Bearer {new_user_token(server_url)}"},
    ).json()["url"]
    refused = sign_in(server_url, "unverified+someone-else@example.com", start=taken)
    assert parse_qs(urlsplit(refused).query)["error_code"] == ["identity_already_exists"]
    oidc = next(i for i in user["identities"] if i["provider"] == "oidc")
    unlinked = httpx.delete(
        f"{server_url}/auth/v1/user/identities/{oidc['identity_id']}", headers=headers
    )
    assert unlinked.status_code == 200
    last = next(i for i in user["identities"] if i["provider"] == "email")
    refused_last = httpx.delete(
        f"{server_url}/auth/v1/user/identities/{last['identity_id']}", headers=headers | V2
    )
    assert refused_last.status_code == 422
    assert refused_last.json()["code"] == "single_identity_not_deletable"


def new_user_token(server_url: str) -> str:
    body = {"email": f"other-{PORT}@example.com", "password": "correct horse 1"}
    return str(
        httpx.post(f"{server_url}/auth/v1/signup", json=body, headers=ANON).json()["access_token"]
    )
