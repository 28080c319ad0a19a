"""Names and limits storage accepts: keys, bucket ids, MIME patterns, human sizes."""

from __future__ import annotations

import pytest

from neo.storage.errors import InvalidBucketName, InvalidKey, InvalidRequest
from neo.storage.names import check_bucket_name, check_key, mime_allowed, parse_size


@pytest.mark.parametrize(
    "key", ["a.txt", "dir/sub/file.png", "spaces and (parens).txt", "ünïcödé/文件.txt", "a..b"]
)
def test_valid_keys_pass(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize(
    "key", ["", "/abs", "trailing/", "a//b", "../x", "a/../b", "./a", "a/.", "nul\x00", "x" * 1025]
)
def test_invalid_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidKey):
        check_key(key)


@pytest.mark.parametrize("name", ["avatars", "my-bucket_1", "a.b", "Caps (x)"])
def test_valid_bucket_names(name: str) -> None:
    assert check_bucket_name(name) == name


@pytest.mark.parametrize("name", ["", "a/b", "#tmp", "..", "é", "x" * 101])
def test_invalid_bucket_names(name: str) -> None:
    with pytest.raises(InvalidBucketName):
        check_bucket_name(name)


@pytest.mark.parametrize(
    ("mime", "allowed", "ok"),
    [
        ("image/png", None, True),
        ("image/png", [], True),
        ("image/png", ["image/*"], True),
        ("image/png; charset=x", ["image/png"], True),
        ("IMAGE/PNG", ["image/png"], True),
        ("text/plain", ["image/*"], False),
        ("imagex/png", ["image/*"], False),
        ("anything/else", ["*/*"], True),
    ],
)
def test_mime_patterns(mime: str, allowed: list[str] | None, ok: bool) -> None:
    assert mime_allowed(mime, allowed) is ok


@pytest.mark.parametrize(
    ("value", "size"),
    [(None, None), (10, 10), ("10", 10), ("1kb", 1000), ("1 MiB", 1048576), ("1.5GB", 1.5e9)],
)
def test_human_sizes(value: int | str | None, size: float | None) -> None:
    assert parse_size(value) == size


def test_nonsense_size_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        parse_size("lots")
