"""The app behind a real uvicorn on loopback, driven by the official clients' transports."""

from __future__ import annotations

import httpx

from tests.conftest import DEMO_ANON_KEY, DEMO_SERVICE_KEY
from tests.support.js import run_js


def test_health_and_cors_preflight_over_real_http(server_url: str) -> None:
    assert httpx.get(f"{server_url}/health").json()["status"] == "ok"
    preflight = httpx.options(
        f"{server_url}/rest/v1/todos",
        headers={
            "origin": "http://app.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "apikey, authorization, x-client-info, prefer",
        },
    )
    assert preflight.status_code == 200
    allowed = preflight.headers["access-control-allow-headers"].lower()
    for header in ("apikey", "authorization", "x-client-info", "prefer"):
        assert header in allowed
    assert preflight.headers["x-request-id"]


def test_supabase_js_reaches_neo_with_its_own_headers(server_url: str) -> None:
    body = run_js(
        """
        const client = createClient(process.env.SUPABASE_URL, process.env.SUPABASE_KEY);
        const res = await fetch(process.env.SUPABASE_URL + '/neo/v1/whoami', {
          headers: { apikey: process.env.SUPABASE_KEY,
                     Authorization: 'Bearer ' + process.env.SUPABASE_KEY } });
        console.log(JSON.stringify({ status: res.status, body: await res.json(),
                                     hasAuth: typeof client.auth.getSession }));
        """,
        url=server_url,
        key=DEMO_SERVICE_KEY,
    )
    assert body["status"] == 200
    assert body["body"]["db_role"] == "service_role"
    assert body["hasAuth"] == "function"


def test_exposed_headers_let_browsers_read_request_ids(server_url: str) -> None:
    response = httpx.get(
        f"{server_url}/neo/v1/whoami",
        headers={"origin": "http://app.example", "apikey": DEMO_ANON_KEY},
    )
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()


async def test_openapi_document_builds_without_warnings() -> None:
    """Every route of every capability has a unique operation id (warnings are errors here)."""
    from neo.app import create_app
    from neo.settings import Settings

    schema = create_app(Settings()).openapi()
    assert schema["paths"]
    assert "/auth/v1/verify" in schema["paths"]
