"""The official clients against a real NEO on loopback: supabase-py (PKCE by default) and
supabase-js (implicit by default), through sign-up, sign-in, user, refresh, sign-out, admin
and password recovery followed from the dev mailbox."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from supabase import Client, create_client

from tests.conftest import DEMO_ANON_KEY, DEMO_SERVICE_KEY
from tests.support.js import run_js

SERVICE = {"apikey": DEMO_SERVICE_KEY, "Authorization": f"Bearer {DEMO_SERVICE_KEY}"}


def random_email() -> str:
    return f"client-{secrets.token_hex(6)}@example.com"


@contextmanager
def supabase(server_url: str, key: str = DEMO_ANON_KEY) -> Iterator[Client]:
    """A supabase-py client whose HTTP connections are closed afterwards."""
    client = create_client(server_url, key)
    try:
        yield client
    finally:
        client.auth._http_client.close()


def latest_mail(server_url: str, email: str) -> dict[str, Any]:
    response = httpx.get(
        f"{server_url}/auth/v1/admin/mailbox", params={"email": email}, headers=SERVICE
    )
    return dict(response.json()["messages"][0])


def test_supabase_py_account_lifecycle(server_url: str) -> None:
    with supabase(server_url, DEMO_ANON_KEY) as client:
        email, password = random_email(), "correct horse 1"
        signed_up = client.auth.sign_up({"email": email, "password": password})
        assert signed_up.session is not None
        assert signed_up.user is not None
        assert signed_up.user.email == email
        client.auth.sign_out()
        signed_in = client.auth.sign_in_with_password({"email": email, "password": password})
        assert signed_in.session is not None
        assert client.auth.get_user().user.id == signed_up.user.id  # type: ignore[union-attr]
        updated = client.auth.update_user({"data": {"name": "Ada"}})
        assert updated.user.user_metadata == {"name": "Ada"}
        refreshed = client.auth.refresh_session()
        assert refreshed.session is not None
        assert refreshed.session.refresh_token != signed_in.session.refresh_token
        client.auth.sign_out()
        assert client.auth.get_session() is None


def test_supabase_py_admin(server_url: str) -> None:
    with supabase(server_url, DEMO_SERVICE_KEY) as service:
        admin = service.auth.admin
        email = random_email()
        created = admin.create_user(
            {"email": email, "password": "correct horse 1", "email_confirm": True}
        )
        assert created.user.email == email
        users = admin.list_users(page=1, per_page=100)
        assert email in [u.email for u in users]
        link = admin.generate_link({"type": "magiclink", "email": email})
        assert link.properties.action_link
        assert link.user.email == email
        admin.delete_user(created.user.id)
        assert email not in [u.email for u in admin.list_users()]


def test_supabase_py_recovery_through_the_mailbox(server_url: str) -> None:
    with supabase(server_url, DEMO_ANON_KEY) as client:
        email = random_email()
        client.auth.sign_up({"email": email, "password": "correct horse 1"})
        client.auth.sign_out()
        client.auth.reset_password_for_email(email, {"redirect_to": "http://localhost:3000/reset"})
        mail = latest_mail(server_url, email)
        redirect = httpx.get(mail["link"].replace("http://127.0.0.1:54321", server_url))
        location = redirect.headers["location"]
        code = parse_qs(urlsplit(location).query)["code"][0]
        session = client.auth.exchange_code_for_session({"auth_code": code, "redirect_to": ""})
        assert session.user is not None
        assert session.user.email == email
        client.auth.update_user({"password": "a brand new pw"})
        client.auth.sign_out()
        again = client.auth.sign_in_with_password({"email": email, "password": "a brand new pw"})
        assert again.session is not None


def test_supabase_py_email_otp(server_url: str) -> None:
    with supabase(server_url, DEMO_ANON_KEY) as client:
        email = random_email()
        client.auth.sign_in_with_otp({"email": email})
        code = latest_mail(server_url, email)["code"]
        verified = client.auth.verify_otp({"email": email, "token": code, "type": "email"})
        assert verified.session is not None
        assert verified.user is not None
        assert verified.user.email == email


def test_supabase_js_flows(server_url: str) -> None:
    email = random_email()
    script = f"""
const supabase = createClient(process.env.SUPABASE_URL, process.env.SUPABASE_KEY,
  {{ auth: {{ persistSession: false, autoRefreshToken: false }} }});
const admin = createClient(process.env.SUPABASE_URL, {DEMO_SERVICE_KEY!r},
  {{ auth: {{ persistSession: false, autoRefreshToken: false }} }});
const out = {{}};
const up = await supabase.auth.signUp(
  {{ email: {email!r}, password: 'correct horse 1' }});
out.signUp = up.error ? up.error.message : up.data.user.email;
const dup = await supabase.auth.signUp(
  {{ email: {email!r}, password: 'correct horse 1' }});
out.duplicateCode = dup.error && dup.error.code;
await supabase.auth.signOut();
const bad = await supabase.auth.signInWithPassword(
  {{ email: {email!r}, password: 'nope nope' }});
out.badCode = bad.error && bad.error.code;
const inn = await supabase.auth.signInWithPassword(
  {{ email: {email!r}, password: 'correct horse 1' }});
out.signIn = !inn.error;
const me = await supabase.auth.getUser();
out.getUser = me.data.user && me.data.user.email;
const upd = await supabase.auth.updateUser({{ data: {{ plan: 'pro' }} }});
out.metadata = upd.data.user && upd.data.user.user_metadata;
const ref = await supabase.auth.refreshSession();
out.refreshed = !ref.error && ref.data.session.refresh_token !== inn.data.session.refresh_token;
const so = await supabase.auth.signOut();
out.signOut = so.error;
await supabase.auth.resetPasswordForEmail({email!r});
const service = {DEMO_SERVICE_KEY!r};
const box = await fetch(
  process.env.SUPABASE_URL + '/auth/v1/admin/mailbox?email=' + encodeURIComponent({email!r}),
  {{ headers: {{ apikey: service, Authorization: 'Bearer ' + service }} }});
const mail = (await box.json()).messages[0];
const ver = await supabase.auth.verifyOtp(
  {{ email: {email!r}, token: mail.code, type: 'recovery' }});
out.recovered = !ver.error && ver.data.session !== null;
const created = await admin.auth.admin.createUser(
  {{ email: 'x' + {email!r}, email_confirm: true }});
out.adminCreate = created.error ? created.error.message : created.data.user.email;
const list = await admin.auth.admin.listUsers({{ page: 1, perPage: 1 }});
out.listCount = list.data.users.length;
out.nextPage = list.data.nextPage;
out.total = list.data.total;
const del = await admin.auth.admin.deleteUser(created.data.user.id);
out.adminDelete = del.error;
console.log(JSON.stringify(out));
"""
    out = run_js(script, url=server_url, key=DEMO_ANON_KEY)
    assert out["signUp"] == email
    assert out["duplicateCode"] == "user_already_exists"
    assert out["badCode"] == "invalid_credentials"
    assert out["signIn"] is True
    assert out["getUser"] == email
    assert out["metadata"] == {"plan": "pro"}
    assert out["refreshed"] is True
    assert out["signOut"] is None
    assert out["recovered"] is True
    assert out["adminCreate"] == "x" + email
    assert out["adminDelete"] is None
    assert out["listCount"] == 1
    assert out["nextPage"] == 2
    assert out["total"] >= 2


def test_supabase_py_anonymous_and_claims(server_url: str) -> None:
    with supabase(server_url) as client:
        signed_in = client.auth.sign_in_anonymously()
        assert signed_in.user is not None
        assert signed_in.user.is_anonymous is True
        claims = client.auth.get_claims()
        assert claims is not None
        assert claims["claims"]["is_anonymous"] is True
        assert claims["claims"]["sub"] == signed_in.user.id
