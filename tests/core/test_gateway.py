"""The gateway's resolution matrix: which credentials give which role, and which are refused."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI

from neo.core.keys import KeyRing
from tests.conftest import DEMO_ANON_KEY, DEMO_JWT_SECRET, DEMO_SERVICE_KEY
from tests.support.servers import asgi_client, running_app

USER_ID = "8d0b7e47-3c5b-4f7e-9a55-0d4f1f6b2a11"


def keys(app: FastAPI) -> KeyRing:
    return app.state.core.keys


def user_claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": USER_ID,
        "role": "authenticated",
        "aud": "authenticated",
        "email": "ada@example.com",
        "iat": now,
        "exp": now + 600,
    } | extra


def unsigned(claims: dict[str, Any], header: dict[str, Any]) -> str:
    def part(obj: dict[str, Any]) -> str:
        raw = json.dumps(obj).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}."


async def whoami(client: httpx.AsyncClient, **headers: str) -> httpx.Response:
    return await client.get("/neo/v1/whoami", headers=headers)


@pytest.mark.parametrize(
    ("headers", "role", "credential"),
    [
        ({}, "anon", "none"),
        ({"apikey": DEMO_ANON_KEY}, "anon", "anon_key"),
        ({"apikey": DEMO_SERVICE_KEY}, "service_role", "service_key"),
        ({"authorization": f"Bearer {DEMO_ANON_KEY}"}, "anon", "anon_key"),
        ({"authorization": f"Bearer {DEMO_SERVICE_KEY}"}, "service_role", "service_key"),
    ],
)
async def test_legacy_keys_resolve_to_their_role(
    client: httpx.AsyncClient, headers: dict[str, str], role: str, credential: str
) -> None:
    response = await whoami(client, **headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["db_role"], body["role"], body["credential"]) == (role, role, credential)


async def test_apikey_is_also_read_from_the_query_string(client: httpx.AsyncClient) -> None:
    response = await client.get("/neo/v1/whoami", params={"apikey": DEMO_SERVICE_KEY})
    assert response.json()["db_role"] == "service_role"


async def test_opaque_keys_are_aliases_of_anon_and_service(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ring = keys(app)
    assert (await whoami(client, apikey=ring.publishable_key)).json()["db_role"] == "anon"
    assert (await whoami(client, apikey=ring.secret_key)).json()["db_role"] == "service_role"
    bearer = await whoami(client, authorization=f"Bearer {ring.secret_key}")
    assert bearer.json()["db_role"] == "service_role"


async def test_bearer_sb_key_defers_to_the_apikey_header(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ring = keys(app)
    response = await whoami(
        client, apikey=ring.secret_key, authorization=f"Bearer {ring.publishable_key}"
    )
    assert response.json()["db_role"] == "service_role"


async def test_user_token_wins_over_the_apikey_and_reaches_sql(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    token = keys(app).sign(user_claims())
    response = await whoami(client, apikey=DEMO_ANON_KEY, authorization=f"Bearer {token}")
    body = response.json()
    assert (body["db_role"], body["uid"], body["email"]) == (
        "authenticated",
        USER_ID,
        "ada@example.com",
    )
    assert body["credential"] == "jwt"


async def test_hs256_user_token_from_the_legacy_secret_is_accepted(
    client: httpx.AsyncClient,
) -> None:
    token = jwt.encode(user_claims(), DEMO_JWT_SECRET, algorithm="HS256")
    assert (await whoami(client, authorization=f"Bearer {token}")).json()["uid"] == USER_ID


def _bad_tokens(app: FastAPI) -> dict[str, str]:
    ring = keys(app)
    current = ring.current
    assert current is not None
    stranger = ec.generate_private_key(ec.SECP256R1())
    return {
        "expired": ring.sign(user_claims(exp=int(time.time()) - 5)),
        "wrong_signature": jwt.encode(user_claims(), "not-the-secret-" * 3, algorithm="HS256"),
        "alg_none": unsigned(user_claims(), {"alg": "none", "typ": "JWT"}),
        "unknown_kid": jwt.encode(
            user_claims(), stranger, algorithm="ES256", headers={"kid": str(uuid.uuid4())}
        ),
        "foreign_key_known_kid": jwt.encode(
            user_claims(), stranger, algorithm="ES256", headers={"kid": current.kid}
        ),
        "hs256_with_asymmetric_kid": jwt.encode(
            user_claims(), DEMO_JWT_SECRET, algorithm="HS256", headers={"kid": current.kid}
        ),
        "wrong_audience": ring.sign(user_claims(aud="some-other-service")),
        "wrong_issuer": ring.sign(user_claims(iss="https://evil.example/auth/v1")),
        "two_parts": "abc.def",
        "garbage": "not-a-token-at-all",
    }


@pytest.mark.parametrize(
    "case",
    [
        "expired", "wrong_signature", "alg_none", "unknown_kid", "foreign_key_known_kid",
        "hs256_with_asymmetric_kid", "wrong_audience", "wrong_issuer", "two_parts", "garbage",
    ],
)  # fmt: skip
async def test_bad_bearer_tokens_are_refused(
    app: FastAPI, client: httpx.AsyncClient, case: str
) -> None:
    response = await whoami(client, authorization=f"Bearer {_bad_tokens(app)[case]}")
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "invalid_token"
    assert body["request_id"] == response.headers["x-request-id"]


async def test_expired_token_says_so(app: FastAPI, client: httpx.AsyncClient) -> None:
    response = await whoami(client, authorization=f"Bearer {_bad_tokens(app)['expired']}")
    assert response.json()["message"] == "JWT expired"


async def test_garbage_token_says_how_many_parts(client: httpx.AsyncClient) -> None:
    response = await whoami(client, authorization="Bearer abc.def")
    assert response.json()["message"] == "Expected 3 parts in JWT; got 2"


@pytest.mark.parametrize(
    "apikey",
    [
        "sb_publishable_doesnotexist",
        "sb_secret_doesnotexist",
        jwt.encode(
            {"role": "service_role"}, "a-different-secret-of-enough-length!", algorithm="HS256"
        ),
        "plain-garbage",
    ],
)
async def test_unknown_apikey_is_refused_as_kong_does(
    client: httpx.AsyncClient, apikey: str
) -> None:
    response = await whoami(client, apikey=apikey)
    assert response.status_code == 401
    assert response.json() == {
        "message": "Invalid API key",
        "hint": "Double check your Supabase `anon` or `service_role` API key.",
    }


async def test_token_for_a_role_the_database_lacks_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    token = keys(app).sign(user_claims(role="no_such_role"))
    response = await whoami(client, authorization=f"Bearer {token}")
    assert response.status_code == 401
    assert response.json()["code"] == "unknown_role"


async def test_token_cannot_escalate_to_the_owner_role(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    token = keys(app).sign(user_claims(role="postgres"))
    response = await whoami(client, authorization=f"Bearer {token}")
    assert response.status_code == 401


async def test_non_bearer_authorization_is_ignored(client: httpx.AsyncClient) -> None:
    response = await whoami(client, authorization="Basic dXNlcjpwYXNz")
    assert response.json()["db_role"] == "anon"


async def test_strict_mode_requires_a_key(make_settings: Any) -> None:
    async with (
        running_app(make_settings(gateway={"require_api_key": True})) as strict,
        asgi_client(strict) as client,
    ):
        response = await whoami(client)
        assert response.status_code == 401
        assert response.json()["message"] == "No API key found in request"
        assert (await whoami(client, apikey=DEMO_ANON_KEY)).status_code == 200


async def test_auth_routes_render_token_errors_in_gotrue_shape(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/auth/v1/no-such-route", headers={"x-supabase-api-version": "2024-01-01"}
    )
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "Not Found"}
    assert response.headers["x-supabase-api-version"] == "2024-01-01"
    legacy = await client.get("/auth/v1/no-such-route")
    assert set(legacy.json()) == {"code", "error_code", "msg", "error_id"}
    assert legacy.json()["code"] == 404


async def test_5xx_bodies_hide_internals_unless_the_error_is_meant_for_the_caller() -> None:
    from starlette.requests import Request

    from neo.core.errors import Dialects, NeoError

    class Exposed(NeoError):
        status, code, message, expose = 503, "isolation_unavailable", "no memory cgroup", True

    request = Request({"type": "http", "path": "/x", "headers": [], "state": {"request_id": "r1"}})
    hidden = Dialects().render(NeoError("secret detail in a stack"), request)
    shown = Dialects().render(Exposed(), request)
    assert b"secret detail" not in hidden.body
    assert b"r1" in hidden.body
    assert b"no memory cgroup" in shown.body


def test_apikey_errors_use_kong_shape_only_where_supabase_has_key_auth() -> None:
    from starlette.requests import Request

    from neo.core.errors import Dialects, InvalidApiKey, native_body

    dialects = Dialects()
    dialects.register("/rest/v1", native_body)
    dialects.register("/storage/v1", native_body, key_auth=False)

    def render(path: str) -> dict[str, object]:
        scope = {"type": "http", "path": path, "headers": [], "state": {"request_id": "r"}}
        return json.loads(dialects.render(InvalidApiKey(), Request(scope)).body)

    assert set(render("/rest/v1/todos")) == {"message", "hint"}
    assert render("/storage/v1/object/b/k")["code"] == "invalid_api_key"


def test_apikey_check_alone_ignores_an_expired_bearer(app: FastAPI) -> None:
    from neo.core.errors import InvalidApiKey

    gateway = app.state.core.gateway
    expired = keys(app).sign(user_claims(exp=int(time.time()) - 60))
    headers = {"apikey": DEMO_ANON_KEY, "authorization": f"Bearer {expired}"}
    assert gateway.resolve_apikey(headers, {}).role == "anon"
    assert gateway.resolve_apikey({}, {"apikey": DEMO_SERVICE_KEY}).role == "service_role"
    assert gateway.resolve_apikey({}, {}).role == "anon"
    with pytest.raises(InvalidApiKey):
        gateway.resolve_apikey({"apikey": "sb_secret_wrong"}, {})


def test_a_bearer_resolves_to_one_actor_while_its_cache_entry_lasts(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = app.state.core.gateway
    exp = int(time.time()) + 600
    headers = {"authorization": f"Bearer {keys(app).sign(user_claims(exp=exp))}"}
    first = gateway.resolve(headers, {})
    assert (first.role, first.user_id) == ("authenticated", USER_ID)
    assert gateway.resolve(headers, {}) is first
    monkeypatch.setattr(time, "time", lambda: exp + 1.0)  # the cache entry has run out
    assert gateway.resolve(headers, {}) is not first
