"""Email flows through the dev mailbox: recover, OTP / magic link, verify (POST, GET links,
implicit and PKCE), resend, email change, reauthenticate; one-time token rules (F1, C3) and
answers that do not reveal accounts (A2, A4)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest

from tests.auth.conftest import ANON, V2, bearer, mailbox, password_login, random_email, sign_up


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.decode().rstrip("=")


async def post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post(f"/auth/v1/{path}", json=body, headers=ANON | V2)


async def follow(client: httpx.AsyncClient, link: str) -> httpx.Response:
    parts = urlsplit(link)
    return await client.get(f"{parts.path}?{parts.query}")


async def test_recover_link_signs_in_through_the_fragment(client: httpx.AsyncClient) -> None:
    email = random_email()
    await sign_up(client, email)
    response = await post(
        client, "recover?redirect_to=http://localhost:3000/reset", {"email": email}
    )
    assert response.status_code == 200
    assert response.json() == {}
    [mail] = await mailbox(client, email)
    assert mail["kind"] == "recovery"
    assert len(mail["code"]) == 6
    redirect = await follow(client, mail["link"])
    assert redirect.status_code == 303
    location = redirect.headers["location"]
    assert location.startswith("http://localhost:3000/reset#")
    fragment = parse_qs(urlsplit(location).fragment)
    assert fragment["type"] == ["recovery"]
    assert fragment["token_type"] == ["bearer"]
    session = {"access_token": fragment["access_token"][0]}
    changed = await client.put(
        "/auth/v1/user", json={"password": "brand new pw"}, headers=bearer(session)
    )
    assert changed.status_code == 200
    assert (await password_login(client, email, "brand new pw")).status_code == 200
    reused = await follow(client, mail["link"])
    assert "error_code=otp_expired" in reused.headers["location"]


async def test_head_on_a_link_does_not_consume_it(client: httpx.AsyncClient) -> None:
    email = random_email()
    await sign_up(client, email)
    await post(client, "recover", {"email": email})
    [mail] = await mailbox(client, email)
    parts = urlsplit(mail["link"])
    assert (await client.head(f"{parts.path}?{parts.query}")).status_code == 200
    followed = await follow(client, mail["link"])
    assert "access_token=" in followed.headers["location"]


async def test_recover_with_pkce_redirects_with_a_code(client: httpx.AsyncClient) -> None:
    email = random_email()
    await sign_up(client, email)
    verifier, challenge = pkce_pair()
    body = {"email": email, "code_challenge": challenge, "code_challenge_method": "s256"}
    assert (await post(client, "recover", body)).status_code == 200
    [mail] = await mailbox(client, email)
    redirect = await follow(client, mail["link"])
    location = redirect.headers["location"]
    assert location.startswith("http://localhost:3000?code=")
    code = parse_qs(urlsplit(location).query)["code"][0]
    wrong = await post(
        client, "token?grant_type=pkce", {"auth_code": code, "code_verifier": "x" * 43}
    )
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "bad_code_verifier"
    burned = await post(
        client, "token?grant_type=pkce", {"auth_code": code, "code_verifier": verifier}
    )
    assert burned.status_code == 404
    assert burned.json()["code"] == "flow_state_not_found"


async def test_pkce_code_is_exchanged_once(client: httpx.AsyncClient) -> None:
    email = random_email()
    await sign_up(client, email)
    verifier, challenge = pkce_pair()
    body = {"email": email, "code_challenge": challenge, "code_challenge_method": "S256"}
    await post(client, "otp", body)
    [mail] = await mailbox(client, email)
    code = parse_qs(urlsplit((await follow(client, mail["link"])).headers["location"]).query)
    grant = {"auth_code": code["code"][0], "code_verifier": verifier}
    first = await post(client, "token?grant_type=pkce", grant)
    assert first.status_code == 200, first.text
    assert first.json()["user"]["email"] == email
    second = await post(client, "token?grant_type=pkce", grant)
    assert second.status_code == 404


async def test_otp_code_signs_up_and_in(client: httpx.AsyncClient) -> None:
    email = random_email()
    response = await post(client, "otp", {"email": email, "create_user": True, "data": {"x": 1}})
    assert response.status_code == 200
    assert response.json() == {}
    [mail] = await mailbox(client, email)
    assert mail["kind"] == "signup"
    verified = await post(
        client, "verify", {"type": "email", "email": email, "token": mail["code"]}
    )
    assert verified.status_code == 200, verified.text
    user = verified.json()["user"]
    assert user["email_confirmed_at"]
    assert user["user_metadata"] == {"x": 1}
    again = await post(client, "verify", {"type": "email", "email": email, "token": mail["code"]})
    assert again.status_code == 403
    assert again.json()["code"] == "otp_expired"


async def test_magic_link_for_an_existing_user(client: httpx.AsyncClient) -> None:
    email = random_email()
    await sign_up(client, email)
    await post(client, "otp", {"email": email})
    [mail] = await mailbox(client, email)
    assert mail["kind"] == "magiclink"
    verified = await post(
        client, "verify", {"type": "email", "email": email, "token": mail["code"]}
    )
    assert verified.status_code == 200


async def test_wrong_codes_burn_the_token(client: httpx.AsyncClient) -> None:
    email = random_email()
    await sign_up(client, email)
    await post(client, "recover", {"email": email})
    [mail] = await mailbox(client, email)
    wrong = "000000" if mail["code"] != "000000" else "111111"
    for _ in range(5):
        response = await post(
            client, "verify", {"type": "recovery", "email": email, "token": wrong}
        )
        assert response.status_code == 403
    late = await post(client, "verify", {"type": "recovery", "email": email, "token": mail["code"]})
    assert late.status_code == 403
    assert late.json()["code"] == "otp_expired"


async def test_token_is_bound_to_its_purpose(client: httpx.AsyncClient) -> None:
    email = random_email()
    await sign_up(client, email)
    await post(client, "recover", {"email": email})
    [mail] = await mailbox(client, email)
    token_hash = parse_qs(urlsplit(mail["link"]).query)["token"][0]
    as_signup = await post(client, "verify", {"type": "signup", "token_hash": token_hash})
    assert as_signup.status_code == 403
    as_recovery = await post(client, "verify", {"type": "recovery", "token_hash": token_hash})
    assert as_recovery.status_code == 200


async def test_expired_token_is_rejected(client: httpx.AsyncClient, database_url: str) -> None:
    email = random_email()
    await sign_up(client, email)
    await post(client, "recover", {"email": email})
    [mail] = await mailbox(client, email)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "update auth.one_time_tokens set created_at = created_at - interval '11 minutes'"
        )
    finally:
        await conn.close()
    late = await post(client, "verify", {"type": "recovery", "email": email, "token": mail["code"]})
    assert late.status_code == 403
    assert late.json()["code"] == "otp_expired"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("recover", {}),
        ("otp", {"create_user": False}),
        ("magiclink", {"create_user": False}),
        ("resend", {"type": "signup"}),
    ],
)
async def test_answers_do_not_reveal_accounts(
    client: httpx.AsyncClient, path: str, body: dict[str, Any]
) -> None:
    known = random_email()
    await sign_up(client, known)
    answers = []
    for email in (known, known, random_email(), random_email()):
        response = await post(client, path, body | {"email": email})
        answers.append((response.status_code, response.content))
    assert len(set(answers)) == 1, answers


async def test_resend_rejects_unknown_types(client: httpx.AsyncClient) -> None:
    response = await post(client, "resend", {"type": "bogus", "email": random_email()})
    assert response.status_code == 400
    assert response.json()["code"] == "validation_failed"


async def test_email_change_is_confirmed_on_both_addresses(client: httpx.AsyncClient) -> None:
    old = random_email()
    session = await sign_up(client, old)
    new = random_email()
    response = await client.put("/auth/v1/user", json={"email": new}, headers=bearer(session))
    assert response.status_code == 200, response.text
    assert response.json()["new_email"] == new
    assert response.json()["email_change_sent_at"]
    [to_new] = await mailbox(client, new)
    [to_old] = await mailbox(client, old)
    first = await post(
        client, "verify", {"type": "email_change", "email": new, "token": to_new["code"]}
    )
    assert first.status_code == 200, first.text
    assert first.json() == {
        "msg": "Confirmation link accepted. Please proceed to confirm link sent to the other email",
        "code": "200",
    }
    redirect = await follow(client, to_old["link"])
    assert redirect.status_code == 303
    assert "access_token=" in redirect.headers["location"]
    me = await client.get("/auth/v1/user", headers=bearer(session))
    assert me.json()["email"] == new
    assert "new_email" not in me.json()
    assert (await password_login(client, new, "correct horse 1")).status_code == 200


async def test_email_change_to_a_taken_address(client: httpx.AsyncClient) -> None:
    taken = random_email()
    await sign_up(client, taken)
    session = await sign_up(client)
    response = await client.put("/auth/v1/user", json={"email": taken}, headers=bearer(session))
    assert response.status_code == 422
    assert response.json()["code"] == "email_exists"


async def test_reauthenticate_nonce_allows_a_password_change(client: httpx.AsyncClient) -> None:
    email = random_email()
    session = await sign_up(client, email)
    response = await client.get("/auth/v1/reauthenticate", headers=bearer(session))
    assert response.status_code == 200
    assert response.json() == {}
    [mail] = await mailbox(client, email)
    bad = await client.put(
        "/auth/v1/user", json={"password": "another pw 1", "nonce": "nope"}, headers=bearer(session)
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "reauthentication_not_valid"
    good = await client.put(
        "/auth/v1/user",
        json={"password": "another pw 1", "nonce": mail["code"]},
        headers=bearer(session),
    )
    assert good.status_code == 200, good.text


async def test_redirect_outside_the_allow_list_falls_back_to_site_url(
    client: httpx.AsyncClient,
) -> None:
    email = random_email()
    await sign_up(client, email)
    for target in ("https://evil.com", "//evil.com", "http://localhost:3000.evil.com/x",
                   "http://localhost:3000@evil.com/", "javascript:alert(1)"):  # fmt: skip
        await post(client, f"recover?redirect_to={target}", {"email": email})
        [mail, *_] = await mailbox(client, email)
        redirect = parse_qs(urlsplit(mail["link"]).query)["redirect_to"][0]
        assert redirect == "http://localhost:3000", target
