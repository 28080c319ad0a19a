"""What storage accepts as names and limits: bucket ids, object keys, MIME patterns, sizes.

Keys follow storage-api's rules (no control characters, no `.`/`..` segments) plus what a
file system needs (no empty segments, segments of at most 255 bytes), so a key can never
reach outside its bucket's folder.
"""

from __future__ import annotations

import re

from neo.storage.errors import InvalidBucketName, InvalidKey, InvalidMimeType, InvalidRequest

_BUCKET = re.compile(r"^[\w!\-.*'() &$@=;:+,?]{1,100}$", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NOT_HEADER = re.compile(r"[^\t\x20-\x7e\x80-\xff]")  # what an HTTP header value cannot carry
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4}
_UNITS |= {"kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}
MAX_KEY_BYTES = 1024


def check_bucket_name(name: str) -> str:
    """`name` when it is a valid bucket id; InvalidBucketName otherwise."""
    if not _BUCKET.match(name) or name in {".", ".."}:
        raise InvalidBucketName()
    return name


def check_key(key: str) -> str:
    """`key` when it is a valid object key; InvalidKey otherwise."""
    if not key or len(key.encode()) > MAX_KEY_BYTES or _CONTROL.search(key):
        raise InvalidKey(key)
    for segment in key.split("/"):
        if segment in {"", ".", ".."} or len(segment.encode()) > 255:
            raise InvalidKey(key)
    return key


def check_header_value(value: str, what: str) -> str:
    """`value` when a response header can carry it back later (an object's content type or
    cache control is sent with every download); InvalidRequest otherwise."""
    if _NOT_HEADER.search(value):
        raise InvalidRequest(f"{what} holds characters an HTTP header cannot carry")
    return value


def header_text(value: object, default: str) -> str:
    """A stored value (content type, cache control, ETag) as a response header: what a
    header cannot carry dropped, so a row from elsewhere (an imported dump) cannot make its
    downloads fail."""
    return _NOT_HEADER.sub("", str(value or "")) or default


def check_prefix(prefix: str) -> str:
    """A listing prefix: like a key, but may be empty and end in '/'."""
    stripped = prefix.strip("/")
    if stripped:
        check_key(stripped)
    return prefix


def mime_allowed(mime: str, allowed: list[str] | None) -> bool:
    """Whether `mime` matches one of `allowed` (`image/*` wildcards); no list allows all."""
    if not allowed:
        return True
    base = mime.split(";", 1)[0].strip().lower()
    for pattern in allowed:
        pat = pattern.strip().lower()
        if pat in {"*", "*/*"} or pat == base:
            return True
        if pat.endswith("/*") and base.startswith(pat[:-1]):
            return True
    return False


def check_mime(mime: str, allowed: list[str] | None) -> None:
    """InvalidMimeType unless `mime` is allowed."""
    if not mime_allowed(mime, allowed):
        raise InvalidMimeType(mime)


def parse_size(value: int | str | None) -> int | None:
    """A byte count from an int or a human string (`"1MB"`, `"5 mib"`); None stays None."""
    if value is None or isinstance(value, int):
        return value
    match = _SIZE.match(value)
    if not match:
        raise InvalidRequest(f"invalid size: {value}")
    unit = (match[2] or "").lower()
    return int(float(match[1]) * _UNITS[unit])
