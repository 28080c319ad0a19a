"""auth-security E (refresh tokens and sessions): secrets never compared with `==`, deleted
users cannot refresh, session lifetimes on by default, users and admins list and revoke
sessions, and a new session per sign-in. Rotation, reuse, the grace window and the bounded
"one behind" token (E1-E3), hashed storage (E4), bans (E5) and the idle/absolute limits
(E6) are in test_token.py, test_sessions.py and test_mfa.py."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import httpx

import neo.auth
from neo.auth.settings import AuthSettings
from tests.auth.conftest import SERVICE, bearer, password_login, random_email, refresh, sign_up

SECRET_NAMES = re.compile(
    r"^(token|secret|nonce|code|otp|password|verifier|code_verifier|code_hash|token_hash"
    r"|refresh_token|access_token|link_token|code_challenge|challenge)$"
)


def _names(node: ast.AST) -> set[str]:
    """Identifiers, attributes and string keys an expression mentions."""
    found = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            found.add(child.id)
        elif isinstance(child, ast.Attribute):
            found.add(child.attr)
        elif isinstance(child, ast.Constant) and isinstance(child.value, str):
            found.add(child.value)
    return found


def test_secrets_are_never_compared_with_equality() -> None:
    """E4 (static): every comparison of a secret goes through `hmac.compare_digest`."""
    offenders = []
    for path in Path(neo.auth.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Compare):
                continue
            if not any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
                continue
            operands = [node.left, *node.comparators]
            if any(isinstance(o, ast.Constant) for o in operands):
                continue  # a comparison with a literal (`grant_type == "password"`)
            if any(SECRET_NAMES.match(n) for n in _names(node)):
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


async def test_deleted_user_cannot_refresh_or_call(client: httpx.AsyncClient) -> None:
    """E5: after an admin deletes the user, the refresh token and access token are dead."""
    session = await sign_up(client)
    deleted = await client.delete(f"/auth/v1/admin/users/{session['user']['id']}", headers=SERVICE)
    assert deleted.status_code == 200
    response = await refresh(client, session["refresh_token"])
    assert response.status_code == 400
    assert (await client.get("/auth/v1/user", headers=bearer(session))).status_code == 403


def test_session_lifetimes_are_on_by_default() -> None:
    """E6: an idle limit and an absolute limit (so refresh tokens expire) without config."""
    settings = AuthSettings()
    assert 0 < settings.sessions_inactivity_timeout <= 30 * 24 * 3600
    assert settings.sessions_inactivity_timeout < settings.sessions_timebox <= 90 * 24 * 3600


async def two_devices(client: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    email = random_email()
    first = await sign_up(client, email)
    second = await client.post(
        "/auth/v1/token?grant_type=password",
        json={"email": email, "password": "correct horse 1"},
        headers=bearer(first) | {"User-Agent": "device-b"},
    )
    return first, second.json()


async def test_users_list_and_revoke_their_sessions(client: httpx.AsyncClient) -> None:
    """E7: GET /sessions lists both devices; DELETE one -> its refresh token fails and the
    other device still works; another user's session id is a 404."""
    device_a, device_b = await two_devices(client)
    listed = await client.get("/auth/v1/sessions", headers=bearer(device_a))
    assert listed.status_code == 200, listed.text
    sessions = listed.json()
    assert len(sessions) == 2
    assert {"id", "created_at", "refreshed_at", "user_agent", "ip", "aal", "current"} <= set(
        sessions[0]
    )
    other = next(s for s in sessions if not s["current"])
    assert other["user_agent"] == "device-b"
    stranger = await sign_up(client)
    foreign = await client.delete(f"/auth/v1/sessions/{other['id']}", headers=bearer(stranger))
    assert foreign.status_code == 404
    revoked = await client.delete(f"/auth/v1/sessions/{other['id']}", headers=bearer(device_a))
    assert revoked.status_code == 204
    assert (await refresh(client, device_b["refresh_token"])).status_code == 400
    assert (await refresh(client, device_a["refresh_token"])).status_code == 200


async def test_admin_revokes_a_users_sessions(client: httpx.AsyncClient) -> None:
    """E7: the admin ends every session of one user; other users keep theirs."""
    device_a, device_b = await two_devices(client)
    bystander = await sign_up(client)
    user_id = device_a["user"]["id"]
    response = await client.delete(f"/auth/v1/admin/users/{user_id}/sessions", headers=SERVICE)
    assert response.status_code == 204, response.text
    for device in (device_a, device_b):
        assert (await refresh(client, device["refresh_token"])).status_code == 400
    assert (await refresh(client, bystander["refresh_token"])).status_code == 200
    user = await client.delete("/auth/v1/admin/users/not-a-uuid/sessions", headers=SERVICE)
    assert user.status_code in (400, 404)
    refused = await client.delete(f"/auth/v1/admin/users/{user_id}/sessions", headers=bearer(
        bystander))  # fmt: skip
    assert refused.status_code == 403


async def test_every_sign_in_gets_a_new_session(app: Any, client: httpx.AsyncClient) -> None:
    """E8: no session fixation: each login has its own session_id (MFA: test_mfa.py)."""
    email = random_email()
    tokens = [(await sign_up(client, email))["access_token"]]
    for _ in range(2):
        tokens.append(
            (await password_login(client, email, "correct horse 1")).json()["access_token"]
        )
    ids = {app.state.core.keys.verify(token)["session_id"] for token in tokens}
    assert len(ids) == 3


async def test_admin_revokes_everyones_sessions(client: httpx.AsyncClient) -> None:
    """E7: DELETE /admin/sessions ends every session of every user."""
    sessions = [await sign_up(client), await sign_up(client)]
    response = await client.delete("/auth/v1/admin/sessions", headers=SERVICE)
    assert response.status_code == 204, response.text
    for session in sessions:
        assert (await refresh(client, session["refresh_token"])).status_code == 400
        assert (await client.get("/auth/v1/user", headers=bearer(session))).status_code == 403
