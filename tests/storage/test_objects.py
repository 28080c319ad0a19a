"""Object routes through supabase-py with the service key: upload (multipart), upsert,
update, download, info, exists, list, move, copy, remove, and user metadata."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from storage3.exceptions import StorageApiError
from supabase import Client


@pytest.fixture
def bucket(service: Client, new_id: Callable[[], str]) -> str:
    name = new_id()
    service.storage.create_bucket(name)
    return name


def test_upload_then_download_round_trips(service: Client, bucket: str) -> None:
    files = service.storage.from_(bucket)
    res = files.upload("dir/hello.txt", b"hello world", {"content-type": "text/plain"})
    assert res.path == "dir/hello.txt"
    assert res.full_path == f"{bucket}/dir/hello.txt"
    assert files.download("dir/hello.txt") == b"hello world"


def test_upload_without_upsert_refuses_an_existing_key(service: Client, bucket: str) -> None:
    files = service.storage.from_(bucket)
    files.upload("a.txt", b"one")
    with pytest.raises(StorageApiError) as err:
        files.upload("a.txt", b"two")
    assert (err.value.status, err.value.code) == ("409", "Duplicate")
    files.upload("a.txt", b"three", {"upsert": "true"})
    assert files.download("a.txt") == b"three"
    files.update("a.txt", b"four")
    assert files.download("a.txt") == b"four"


def test_info_carries_type_size_cache_and_user_metadata(service: Client, bucket: str) -> None:
    files = service.storage.from_(bucket)
    files.upload(
        "pic.png",
        b"\x89PNG....",
        {"content-type": "image/png", "cache-control": "60", "metadata": {"k": "v"}},
    )
    info = files.info("pic.png")
    assert info["name"] == "pic.png"
    assert info["bucket_id"] == bucket
    assert (info["size"], info["content_type"]) == (8, "image/png")
    assert info["cache_control"] == "max-age=60"
    assert info["metadata"] == {"k": "v"}
    assert info["etag"].startswith('"')
    assert files.exists("pic.png") is True
    assert files.exists("nope.png") is False


def test_download_of_a_missing_object_is_not_found(service: Client, bucket: str) -> None:
    with pytest.raises(StorageApiError) as err:
        service.storage.from_(bucket).download("missing.txt")
    assert (err.value.status, err.value.code) == ("404", "not_found")


def test_list_shows_one_level_with_folders(service: Client, bucket: str) -> None:
    files = service.storage.from_(bucket)
    for path in ["top.txt", "docs/a.txt", "docs/b.txt", "docs/deep/c.txt", "other/x.txt"]:
        files.upload(path, b"x")
    root = files.list()
    assert [e["name"] for e in root] == ["docs", "other", "top.txt"]
    assert root[0]["id"] is None
    assert root[2]["id"] is not None
    docs = files.list("docs")
    assert [e["name"] for e in docs] == ["deep", "a.txt", "b.txt"]
    assert [e["name"] for e in files.list("docs", {"search": "b"})] == ["b.txt"]
    assert [e["name"] for e in files.list("docs", {"limit": 1, "offset": 1})] == ["a.txt"]
    desc = files.list("docs", {"sortBy": {"column": "name", "order": "desc"}})
    assert [e["name"] for e in desc] == ["deep", "b.txt", "a.txt"]
    assert docs[1]["metadata"]["size"] == 1


def test_list_v2_pages_with_a_cursor(service: Client, bucket: str) -> None:
    files = service.storage.from_(bucket)
    for path in ["p/a.txt", "p/b.txt", "p/c/d.txt", "p/e.txt"]:
        files.upload(path, b"x")
    first = files.list_v2({"prefix": "p/", "limit": 2, "with_delimiter": True})
    assert [o.name for o in first.objects] == ["p/a.txt", "p/b.txt"]
    assert first.hasNext
    assert first.nextCursor
    second = files.list_v2(
        {"prefix": "p/", "limit": 2, "with_delimiter": True, "cursor": first.nextCursor}
    )
    assert [f.name for f in second.folders] == ["p/c/"]
    assert [o.name for o in second.objects] == ["p/e.txt"]
    assert not second.hasNext


def test_move_copy_and_remove(service: Client, bucket: str) -> None:
    files = service.storage.from_(bucket)
    files.upload("src.txt", b"payload")
    assert files.move("src.txt", "moved/dst.txt")["message"] == "Successfully moved"
    assert files.exists("src.txt") is False
    assert files.download("moved/dst.txt") == b"payload"
    copied = files.copy("moved/dst.txt", "copy.txt")
    assert copied["Key"] == f"{bucket}/copy.txt"
    assert files.download("copy.txt") == b"payload"
    removed = files.remove(["copy.txt", "moved/dst.txt", "never.txt"])
    assert sorted(r["name"] for r in removed) == ["copy.txt", "moved/dst.txt"]
    assert files.list() == []


def test_move_onto_an_existing_key_is_a_conflict(service: Client, bucket: str) -> None:
    files = service.storage.from_(bucket)
    files.upload("a.txt", b"a")
    files.upload("b.txt", b"b")
    with pytest.raises(StorageApiError) as err:
        files.move("a.txt", "b.txt")
    assert err.value.status == "409"
    assert files.download("a.txt") == b"a"


def test_signed_url_serves_without_credentials(service: Client, bucket: str) -> None:
    files = service.storage.from_(bucket)
    files.upload("s.txt", b"secret")
    url = files.create_signed_url("s.txt", 60)["signedURL"]
    res = httpx.get(url)
    assert res.status_code == 200
    assert res.content == b"secret"
    assert httpx.get(url.replace("s.txt", "t.txt")).status_code == 400
    dl = files.create_signed_url("s.txt", 60, {"download": "x.bin"})["signedURL"]
    assert "x.bin" in httpx.get(dl).headers["content-disposition"]


def test_signed_urls_for_many_paths(service: Client, bucket: str) -> None:
    files = service.storage.from_(bucket)
    files.upload("one.txt", b"1")
    results = files.create_signed_urls(["one.txt", "missing.txt"], 60)
    assert results[0]["error"] is None
    assert httpx.get(results[0]["signedURL"]).content == b"1"
    assert results[1]["signedURL"] is None
    assert results[1]["error"]


def test_signed_upload_url_accepts_one_upload(service: Client, bucket: str) -> None:
    files = service.storage.from_(bucket)
    signed = files.create_signed_upload_url("up/load.txt")
    res = files.upload_to_signed_url("up/load.txt", signed["token"], b"via token")
    assert res.full_path == f"{bucket}/up/load.txt"
    assert files.download("up/load.txt") == b"via token"
    with pytest.raises(StorageApiError) as err:
        files.upload_to_signed_url("up/load.txt", signed["token"], b"again")
    assert err.value.status == "409"


def test_public_bucket_is_readable_without_auth(service: Client, new_id: Callable[[], str]) -> None:
    name = new_id()
    service.storage.create_bucket(name, options={"public": True})
    files = service.storage.from_(name)
    files.upload("pub/img.txt", b"public bytes")
    url = files.get_public_url("pub/img.txt")
    assert httpx.get(url).content == b"public bytes"
    res = httpx.get(url + "?download")
    assert res.headers["content-disposition"].startswith("attachment")


def test_private_bucket_has_no_public_url(service: Client, bucket: str) -> None:
    files = service.storage.from_(bucket)
    files.upload("p.txt", b"x")
    res = httpx.get(files.get_public_url("p.txt"))
    assert res.status_code == 400
    assert res.json()["statusCode"] == "404"


def test_authenticated_and_public_info_routes(
    service: Client, server_url: str, new_id: Callable[[], str]
) -> None:
    name = new_id()
    service.storage.create_bucket(name, options={"public": True})
    service.storage.from_(name).upload("i.txt", b"info")
    base = f"{server_url}/storage/v1/object"
    auth = {"authorization": f"Bearer {service.supabase_key}"}
    assert httpx.get(f"{base}/authenticated/{name}/i.txt", headers=auth).content == b"info"
    assert httpx.get(f"{base}/info/authenticated/{name}/i.txt", headers=auth).json()["size"] == 4
    assert httpx.get(f"{base}/info/public/{name}/i.txt").json()["name"] == "i.txt"
    assert httpx.head(f"{base}/public/{name}/i.txt").headers["content-length"] == "4"
