"""RLS decides, as in Supabase: anon read-only bucket, a bucket for any signed-in user,
owner-only folders; the service role bypasses; public buckets and signed URLs need no auth."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest
from storage3.exceptions import StorageApiError
from supabase import Client

from tests.storage.conftest import user_token

pytestmark = pytest.mark.usefixtures("policies")


@pytest.fixture(scope="module", autouse=True)
def buckets(service: Client) -> None:
    for name in ("open", "shared", "private"):
        service.storage.create_bucket(name)
    service.storage.from_("open").upload("hello.txt", b"open bytes")


def test_anon_reads_the_open_bucket_but_cannot_write(anon: Client) -> None:
    files = anon.storage.from_("open")
    assert files.download("hello.txt") == b"open bytes"
    with pytest.raises(StorageApiError) as err:
        files.upload("new.txt", b"x")
    assert (err.value.status, err.value.code) == ("403", "Unauthorized")


def test_anon_sees_nothing_in_other_buckets(anon: Client, service: Client) -> None:
    service.storage.from_("shared").upload("s.txt", b"x", {"upsert": "true"})
    assert anon.storage.from_("shared").list() == []
    assert anon.storage.from_("shared").exists("s.txt") is False


def test_a_refused_upload_stores_no_bytes(anon: Client, service: Client) -> None:
    with pytest.raises(StorageApiError):
        anon.storage.from_("open").upload("refused.txt", b"x")
    assert service.storage.from_("open").exists("refused.txt") is False


def test_signed_in_users_share_the_shared_bucket(as_user: Callable[[str], Client]) -> None:
    alice, bob = as_user(str(uuid.uuid4())), as_user(str(uuid.uuid4()))
    alice.storage.from_("shared").upload("team/plan.txt", b"plan")
    assert bob.storage.from_("shared").download("team/plan.txt") == b"plan"
    bob.storage.from_("shared").update("team/plan.txt", b"plan v2")
    assert alice.storage.from_("shared").download("team/plan.txt") == b"plan v2"


def test_owner_only_folders(as_user: Callable[[str], Client]) -> None:
    alice_id, bob_id = str(uuid.uuid4()), str(uuid.uuid4())
    alice, bob = as_user(alice_id), as_user(bob_id)
    alice.storage.from_("private").upload(f"{alice_id}/diary.txt", b"dear diary")
    assert alice.storage.from_("private").download(f"{alice_id}/diary.txt") == b"dear diary"
    with pytest.raises(StorageApiError) as err:
        bob.storage.from_("private").download(f"{alice_id}/diary.txt")
    assert err.value.status == "404"
    with pytest.raises(StorageApiError) as err:
        bob.storage.from_("private").upload(f"{alice_id}/forged.txt", b"x")
    assert err.value.status == "403"
    assert bob.storage.from_("private").remove([f"{alice_id}/diary.txt"]) == []
    assert [e["name"] for e in alice.storage.from_("private").list(alice_id)] == ["diary.txt"]
    assert bob.storage.from_("private").list(alice_id) == []


def test_uploads_record_the_owner(as_user: Callable[[str], Client], service: Client) -> None:
    sub = str(uuid.uuid4())
    as_user(sub).storage.from_("private").upload(f"{sub}/o.txt", b"x")
    rows = service.storage.from_("private").list(sub)
    assert rows
    assert rows[0]["name"] == "o.txt"


def test_signed_url_needs_read_rights_to_create(as_user: Callable[[str], Client]) -> None:
    alice_id = str(uuid.uuid4())
    alice, bob = as_user(alice_id), as_user(str(uuid.uuid4()))
    alice.storage.from_("private").upload(f"{alice_id}/s.txt", b"shh")
    with pytest.raises(StorageApiError):
        bob.storage.from_("private").create_signed_url(f"{alice_id}/s.txt", 60)
    url = alice.storage.from_("private").create_signed_url(f"{alice_id}/s.txt", 60)["signedURL"]
    assert httpx.get(url).content == b"shh"


def test_expired_or_forged_tokens_are_invalid_jwt(server_url: str) -> None:
    base = f"{server_url}/storage/v1/object/open/hello.txt"
    expired = user_token(str(uuid.uuid4()), expires_in=-10)
    res = httpx.get(base, headers={"authorization": f"Bearer {expired}"})
    body = res.json()
    assert res.status_code == 400
    assert (body["statusCode"], body["code"]) == ("400", "InvalidJWT")
    assert "expired" in body["message"]
    res = httpx.get(base, headers={"authorization": "Bearer not.a.jwt"})
    assert res.json()["error"] == "InvalidJWT"


def test_storage_needs_no_apikey(server_url: str) -> None:
    res = httpx.get(f"{server_url}/storage/v1/object/open/hello.txt")
    assert res.status_code == 200
    assert res.content == b"open bytes"
