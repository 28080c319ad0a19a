"""TOTP MFA: enroll, challenge, verify -> aal2, replay and attempt caps (C3), pre-MFA refresh
tokens become reuse (E8), AAL rules for enrolling and unenrolling, the admin's view, and
supabase-py's mfa API."""

from __future__ import annotations

from typing import Any

import httpx
import pyotp
from supabase import create_client

from tests.auth.conftest import ANON, SERVICE, V2, bearer, random_email, refresh, sign_up
from tests.conftest import DEMO_ANON_KEY


async def enroll(
    client: httpx.AsyncClient, session: dict[str, Any], name: str = ""
) -> dict[str, Any]:
    body = {"factor_type": "totp", "friendly_name": name}
    response = await client.post("/auth/v1/factors", json=body, headers=bearer(session))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def challenge_and_verify(
    client: httpx.AsyncClient, session: dict[str, Any], factor_id: str, code: str
) -> httpx.Response:
    challenge = await client.post(
        f"/auth/v1/factors/{factor_id}/challenge", json={}, headers=bearer(session)
    )
    assert challenge.status_code == 200, challenge.text
    return await client.post(
        f"/auth/v1/factors/{factor_id}/verify",
        json={"challenge_id": challenge.json()["id"], "code": code},
        headers=bearer(session),
    )


async def test_enroll_challenge_verify_reaches_aal2(app: Any, client: httpx.AsyncClient) -> None:
    session = await sign_up(client)
    factor = await enroll(client, session, "phone app")
    assert factor["type"] == "totp"
    assert factor["totp"]["qr_code"].startswith("<svg")
    assert factor["totp"]["uri"].startswith("otpauth://totp/")
    code = pyotp.TOTP(factor["totp"]["secret"]).now()
    verified = await challenge_and_verify(client, session, factor["id"], code)
    assert verified.status_code == 200, verified.text
    claims = app.state.core.keys.verify(verified.json()["access_token"])
    assert claims["aal"] == "aal2"
    assert "totp" in [c["method"] for c in claims["amr"]]
    me = await client.get("/auth/v1/user", headers=bearer(verified.json()))
    [listed] = me.json()["factors"]
    assert listed["status"] == "verified"
    assert listed["friendly_name"] == "phone app"
    stale = await refresh(client, session["refresh_token"])
    assert stale.status_code == 400
    assert stale.json()["code"] == "refresh_token_already_used"


async def test_a_code_is_accepted_once(client: httpx.AsyncClient) -> None:
    session = await sign_up(client)
    factor = await enroll(client, session)
    totp = pyotp.TOTP(factor["totp"]["secret"])
    code = totp.now()
    first = await challenge_and_verify(client, session, factor["id"], code)
    assert first.status_code == 200
    upgraded = first.json()
    replay = await challenge_and_verify(client, upgraded, factor["id"], code)
    assert replay.status_code == 422
    assert replay.json()["code"] == "mfa_verification_failed"


async def test_wrong_codes_burn_the_challenge(client: httpx.AsyncClient) -> None:
    session = await sign_up(client)
    factor = await enroll(client, session)
    challenge = await client.post(
        f"/auth/v1/factors/{factor['id']}/challenge", json={}, headers=bearer(session)
    )
    right = pyotp.TOTP(factor["totp"]["secret"]).now()
    wrong = "000000" if right != "000000" else "111111"
    body = {"challenge_id": challenge.json()["id"]}
    path = f"/auth/v1/factors/{factor['id']}/verify"
    for _ in range(5):
        response = await client.post(path, json=body | {"code": wrong}, headers=bearer(session))
        assert response.status_code == 422
    late = await client.post(path, json=body | {"code": right}, headers=bearer(session))
    assert late.status_code == 422


async def test_aal_rules_for_enroll_and_unenroll(client: httpx.AsyncClient) -> None:
    email = random_email()
    session = await sign_up(client, email)
    factor = await enroll(client, session)
    code = pyotp.TOTP(factor["totp"]["secret"]).now()
    assert (await challenge_and_verify(client, session, factor["id"], code)).status_code == 200
    login = await client.post(
        "/auth/v1/token?grant_type=password",
        json={"email": email, "password": "correct horse 1"},
        headers=ANON | V2,
    )
    aal1 = login.json()
    second = await client.post(
        "/auth/v1/factors", json={"factor_type": "totp"}, headers=bearer(aal1)
    )
    assert second.status_code == 403
    assert second.json()["code"] == "insufficient_aal"
    removed = await client.delete(f"/auth/v1/factors/{factor['id']}", headers=bearer(aal1))
    assert removed.status_code == 422
    assert removed.json()["code"] == "insufficient_aal"


async def test_unenroll_and_admin_factors(client: httpx.AsyncClient) -> None:
    session = await sign_up(client)
    factor = await enroll(client, session)
    user_id = session["user"]["id"]
    listed = await client.get(f"/auth/v1/admin/users/{user_id}/factors", headers=SERVICE)
    assert [f["id"] for f in listed.json()] == [factor["id"]]
    removed = await client.delete(f"/auth/v1/factors/{factor['id']}", headers=bearer(session))
    assert removed.json() == {"id": factor["id"]}
    other = await enroll(client, session)
    deleted = await client.delete(
        f"/auth/v1/admin/users/{user_id}/factors/{other['id']}", headers=SERVICE
    )
    assert deleted.json()["id"] == other["id"]
    missing = await client.delete(
        f"/auth/v1/admin/users/{user_id}/factors/{other['id']}", headers=SERVICE | V2
    )
    assert missing.status_code == 404


async def test_anonymous_users_cannot_enroll(client: httpx.AsyncClient) -> None:
    anon = (await client.post("/auth/v1/signup", json={}, headers=ANON | V2)).json()
    response = await client.post(
        "/auth/v1/factors", json={"factor_type": "totp"}, headers=bearer(anon)
    )
    assert response.status_code == 403
    assert response.json()["code"] == "no_authorization"


def test_supabase_py_mfa(server_url: str) -> None:
    client = create_client(server_url, DEMO_ANON_KEY)
    try:
        client.auth.sign_up({"email": random_email(), "password": "correct horse 1"})
        enrolled = client.auth.mfa.enroll({"factor_type": "totp", "friendly_name": "py"})
        assert enrolled.totp is not None
        assert enrolled.totp.qr_code.startswith("data:image/svg+xml;utf-8,<svg")
        code = pyotp.TOTP(enrolled.totp.secret).now()
        client.auth.mfa.challenge_and_verify({"factor_id": enrolled.id, "code": code})
        level = client.auth.mfa.get_authenticator_assurance_level()
        assert level.current_level == "aal2"
        assert level.next_level == "aal2"
    finally:
        client.auth._http_client.close()
