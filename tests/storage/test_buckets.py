"""Bucket routes through supabase-py: create, get, list, update, empty, delete (+ errors)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from storage3.exceptions import StorageApiError
from supabase import Client


def test_create_get_and_list_buckets(service: Client, new_id: Callable[[], str]) -> None:
    name = new_id()
    assert service.storage.create_bucket(name, options={"public": True}) == {"name": name}
    bucket = service.storage.get_bucket(name)
    assert (bucket.id, bucket.name, bucket.public) == (name, name, True)
    assert bucket.file_size_limit is None
    assert bucket.allowed_mime_types is None
    assert name in [b.id for b in service.storage.list_buckets()]


def test_bucket_limits_are_stored_and_updated(service: Client, new_id: Callable[[], str]) -> None:
    name = new_id()
    service.storage.create_bucket(
        name, options={"file_size_limit": "1MB", "allowed_mime_types": ["image/*"]}
    )
    bucket = service.storage.get_bucket(name)
    assert bucket.file_size_limit == 1_000_000
    assert bucket.allowed_mime_types == ["image/*"]
    res = service.storage.update_bucket(name, {"public": True, "file_size_limit": 10})
    assert res == {"message": "Successfully updated"}
    bucket = service.storage.get_bucket(name)
    assert (bucket.public, bucket.file_size_limit) == (True, 10)
    assert bucket.allowed_mime_types == ["image/*"]


def test_duplicate_bucket_is_a_409(service: Client, new_id: Callable[[], str]) -> None:
    name = new_id()
    service.storage.create_bucket(name)
    with pytest.raises(StorageApiError) as err:
        service.storage.create_bucket(name)
    assert err.value.status == "409"


def test_missing_bucket_is_not_found(service: Client) -> None:
    with pytest.raises(StorageApiError) as err:
        service.storage.get_bucket("nope-nope")
    assert (err.value.status, err.value.code) == ("404", "Bucket not found")


def test_invalid_bucket_name_is_rejected(service: Client) -> None:
    with pytest.raises(StorageApiError) as err:
        service.storage.create_bucket("bad/name")
    assert err.value.status == "400"


def test_delete_needs_an_empty_bucket(service: Client, new_id: Callable[[], str]) -> None:
    name = new_id()
    service.storage.create_bucket(name)
    service.storage.from_(name).upload("a/b.txt", b"hello")
    with pytest.raises(StorageApiError) as err:
        service.storage.delete_bucket(name)
    assert err.value.status == "409"
    assert service.storage.empty_bucket(name)["message"]
    assert service.storage.from_(name).list("a") == []
    assert service.storage.delete_bucket(name) == {"message": "Successfully deleted"}


def test_anon_cannot_create_buckets(anon: Client, new_id: Callable[[], str]) -> None:
    with pytest.raises(StorageApiError) as err:
        anon.storage.create_bucket(new_id())
    assert err.value.status == "403"
