"""Hypothesis throws random requests at a live NEO's `/auth/v1`, as an attacker would: every
route, random JSON bodies built from GoTrue's field names with values of any type (NUL
bytes, huge numbers, nested objects, forged tokens), random query strings and callers
(anon, a signed-in user, the service role, forged and expired tokens).

Whatever comes in: never a 5xx; a JSON error carries GoTrue's message field; the victim's
account is unchanged (her password still signs her in, her email is hers) and no forged or
expired token ever acts as anyone.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.auth.conftest import ANON, SERVICE, random_email
from tests.conftest import DEMO_JWT_SECRET
from tests.support import fuzz

VICTIM_PASSWORD = "victim's long password 1"
ROUTES = [
    ("POST", "/signup"), ("POST", "/token?grant_type=password"),
    ("POST", "/token?grant_type=refresh_token"), ("POST", "/token?grant_type=pkce"),
    ("POST", "/token?grant_type=id_token"), ("POST", "/token?grant_type={x}"), ("POST", "/token"),
    ("POST", "/otp"), ("POST", "/magiclink"), ("POST", "/recover"), ("POST", "/resend"),
    ("POST", "/verify"), ("GET", "/verify"), ("GET", "/user"), ("PUT", "/user"),
    ("GET", "/reauthenticate"), ("POST", "/logout"), ("POST", "/logout?scope={x}"),
    ("GET", "/settings"), ("GET", "/health"), ("POST", "/invite"),
    ("GET", "/admin/users"), ("POST", "/admin/users"), ("GET", "/admin/users/{x}"),
    ("PUT", "/admin/users/{x}"), ("DELETE", "/admin/users/{x}"),
    ("DELETE", "/admin/users/{x}/sessions"), ("POST", "/admin/generate_link"),
    ("GET", "/admin/users/{x}/factors"), ("DELETE", "/admin/users/{x}/factors/{x}"),
    ("POST", "/factors"), ("POST", "/factors/{x}/challenge"), ("POST", "/factors/{x}/verify"),
    ("DELETE", "/factors/{x}"), ("GET", "/authorize?provider={x}"), ("GET", "/callback"),
    ("GET", "/user/identities/authorize?provider={x}"), ("DELETE", "/user/identities/{x}"),
    ("GET", "/sessions"), ("DELETE", "/sessions/{x}"), ("GET", "/.well-known/jwks.json"),
]  # fmt: skip
FIELDS = ["email", "password", "phone", "token", "token_hash", "type", "refresh_token",
          "auth_code", "code_verifier", "code_challenge", "code_challenge_method", "data",
          "options", "redirect_to", "factor_type", "friendly_name", "issuer", "challenge_id",
          "code", "provider", "id_token", "nonce", "user_metadata", "app_metadata",
          "email_confirm", "ban_duration", "role", "nonce", "channel", "gotrue_meta_security",
          "captcha_token", "new_email", "current_password", "id"]  # fmt: skip
EXPIRED = jwt.encode({"sub": str(uuid.uuid4()), "role": "authenticated", "exp": 1,
                      "aud": "authenticated"}, DEMO_JWT_SECRET)  # fmt: skip
FORGED = jwt.encode({"sub": str(uuid.uuid4()), "role": "service_role",
                     "exp": int(time.time()) + 3600}, "forged-secret-" * 4)  # fmt: skip
bodies = fuzz.bodies(FIELDS, [
    "a\x00b", "signup", "recovery", "magiclink", "email", "totp", "phone", "x@example.com",
    "' or 1=1 --", "../../x", str(uuid.uuid4()), EXPIRED, "876000h", "-1h",
    "https://evil.example/cb", "s256", "plain",
])  # fmt: skip
fillers = st.sampled_from(["x", str(uuid.uuid4()), "%00", "github", "google", "-1", "global",
                           "others", "local", "a" * 300])  # fmt: skip


@pytest.fixture(scope="module")
def victim(server_url: str) -> Iterator[tuple[httpx.Client, dict[str, Any]]]:
    """A live server's client and a confirmed user who is not part of the fuzzing."""
    with httpx.Client(base_url=server_url + "/auth/v1", timeout=30, limits=fuzz.FRESH) as http:
        email = random_email()
        body = {"email": email, "password": VICTIM_PASSWORD, "email_confirm": True}
        made = http.post("/admin/users", json=body, headers=SERVICE)
        assert made.status_code == 200, made.text
        yield http, {"email": email, "id": made.json()["id"]}


def session_of(http: httpx.Client, email: str, password: str) -> dict[str, Any]:
    res = http.post("/token?grant_type=password", json={"email": email, "password": password},
                    headers=ANON)  # fmt: skip
    assert res.status_code == 200, res.text
    return dict(res.json())


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    route=st.sampled_from(ROUTES),
    filler=fillers,
    body=bodies,
    caller=st.sampled_from(["anon", "service", "expired", "forged", "none"]),
    content_type=st.sampled_from(["application/json", "application/x-www-form-urlencoded", ""]),
)
def test_random_requests_never_fail(
    victim: tuple[httpx.Client, dict[str, Any]],
    route: tuple[str, str],
    filler: str,
    body: bytes,
    caller: str,
    content_type: str,
) -> None:
    http, person = victim
    method, path = route
    path = path.replace("{x}", filler)
    auth = {
        "anon": ANON,
        "service": SERVICE,
        "expired": ANON | {"Authorization": f"Bearer {EXPIRED}"},
        "forged": ANON | {"Authorization": f"Bearer {FORGED}"},
        "none": {},
    }[caller]
    if caller == "service" and person["id"] in path:
        return  # the service role may change anyone: not what this test is about
    headers = auth | ({"content-type": content_type} if content_type else {})
    content = body if method in ("POST", "PUT") else None
    res = http.request(method, path, headers=headers, content=content)
    assert res.status_code < 500, (method, path, res.status_code, res.text)
    if res.status_code >= 400 and "json" in res.headers.get("content-type", ""):
        error = res.json()
        assert {"msg", "message", "error_description"} & set(error), res.text
    if caller in ("expired", "forged", "none"):
        assert person["email"] not in res.text, (method, path)


def test_the_victim_is_untouched(victim: tuple[httpx.Client, dict[str, Any]]) -> None:
    http, person = victim
    session = session_of(http, person["email"], VICTIM_PASSWORD)
    assert session["user"]["id"] == person["id"]
    assert session["user"]["email"] == person["email"]
