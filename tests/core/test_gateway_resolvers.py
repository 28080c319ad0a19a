"""Key resolvers registered with the gateway (how identity's `neo_sk_` keys plug in without
the core importing identity): awaited once per request before routing, answered by the sync
`resolve` everywhere (dependencies, the data API's fast lane, Kong's key check), refused when
unknown, and never called for requests without such a key."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from neo.core.actor import Actor
from neo.core.errors import Unavailable
from neo.core.gateway import Gateway
from tests.conftest import DEMO_ANON_KEY

GOOD, UNKNOWN, BROKEN = "test_sk_good", "test_sk_unknown", "test_sk_broken"
ROBOT = "5b0d2c1e-7a53-4c4b-9a0e-6f1f2a3b4c5d"


class Resolver:
    """A resolver with one known key that counts its calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, key: str) -> Actor | None:
        self.calls.append(key)
        if key == BROKEN:
            raise Unavailable("key store unreachable")
        if key != GOOD:
            return None
        claims = {"sub": ROBOT, "role": "authenticated", "robot": True}
        return Actor(role="authenticated", claims=claims, credential="api_key")


@pytest.fixture
def resolver(app: FastAPI) -> Resolver:
    resolver = Resolver()
    app.state.core.gateway.register_key_resolver("test_sk_", resolver)
    return resolver


async def test_a_registered_key_resolves_for_bearer_apikey_and_query(
    client: httpx.AsyncClient, resolver: Resolver
) -> None:
    for request in (
        {"headers": {"authorization": f"Bearer {GOOD}"}},
        {"headers": {"apikey": GOOD}},
        {"params": {"apikey": GOOD}},
        {"headers": {"apikey": GOOD, "authorization": f"Bearer {GOOD}"}},
    ):
        response = await client.get("/neo/v1/whoami", **request)  # type: ignore[arg-type]
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["credential"], body["uid"], body["db_role"]) == (
            "api_key", ROBOT, "authenticated",
        )  # fmt: skip
        assert body["claims"]["robot"] is True
    assert resolver.calls == [GOOD] * 4  # once per request, even with the key twice


async def test_the_data_fast_lane_storage_and_kongs_key_check_see_it(
    client: httpx.AsyncClient, resolver: Resolver
) -> None:
    assert (await client.get("/rest/v1/", headers={"apikey": GOOD})).status_code == 200
    # Storage resolves through the gateway too.
    buckets = await client.get("/storage/v1/bucket", headers={"authorization": f"Bearer {GOOD}"})
    assert buckets.status_code == 200, buckets.text
    # /auth/v1/user passes the key check but wants a user's session, not a key.
    user = await client.get("/auth/v1/user", headers={"apikey": GOOD})
    assert user.status_code == 401
    assert resolver.calls == [GOOD, GOOD, GOOD]


async def test_unknown_keys_are_refused_in_each_contracts_shape(
    client: httpx.AsyncClient, resolver: Resolver
) -> None:
    bearer = await client.get("/neo/v1/whoami", headers={"authorization": f"Bearer {UNKNOWN}"})
    assert bearer.status_code == 401
    apikey = await client.get("/rest/v1/", headers={"apikey": UNKNOWN})
    assert apikey.status_code == 401
    assert (await client.get("/auth/v1/user", headers={"apikey": UNKNOWN})).status_code == 401


async def test_a_failing_resolver_surfaces_its_error_not_a_crash(
    client: httpx.AsyncClient, resolver: Resolver
) -> None:
    response = await client.get("/neo/v1/whoami", headers={"authorization": f"Bearer {BROKEN}"})
    assert response.status_code == 503, response.text


async def test_requests_without_a_registered_key_never_call_it(
    client: httpx.AsyncClient, resolver: Resolver
) -> None:
    assert (await client.get("/neo/v1/whoami")).status_code == 200
    assert (
        await client.get("/neo/v1/whoami", headers={"apikey": DEMO_ANON_KEY})
    ).status_code == 200
    assert resolver.calls == []


def test_supabase_prefixes_are_reserved(app: FastAPI) -> None:
    gateway: Gateway = app.state.core.gateway
    with pytest.raises(ValueError, match="reserved"):
        gateway.register_key_resolver("sb_secret_", Resolver())
    with pytest.raises(ValueError, match="reserved"):
        gateway.register_key_resolver("", Resolver())
