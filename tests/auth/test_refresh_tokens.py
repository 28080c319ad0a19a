"""Session-signed refresh tokens (decision 0012), the format alone: GoTrue's layout, and what
`parse` and `verify` refuse."""

from __future__ import annotations

import base64
import hashlib
import uuid

import pytest

from neo.auth import refresh_tokens

SECRET = b"s" * 32
SESSION = uuid.UUID("0b5c7e0e-8c34-4a5e-9d0f-3b8e6a1c2d4f")


def raw(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def with_checksum(signed: bytes) -> str:
    return b64(signed + hashlib.sha256(signed).digest()[:4])


@pytest.mark.parametrize("counter", [0, 1, 127, 128, 300, 2**32, 2**63 - 1])
def test_a_token_carries_its_session_and_counter(counter: int) -> None:
    token = refresh_tokens.encode(SECRET, SESSION, counter)
    parsed = refresh_tokens.parse(token)
    assert parsed is not None
    assert (parsed.session_id, parsed.counter) == (SESSION, counter)
    assert refresh_tokens.verify(SECRET, parsed)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_the_layout_is_gotrues() -> None:
    data = raw(refresh_tokens.encode(SECRET, SESSION, 300))
    assert data[0] == 0  # version
    assert data[1:17] == SESSION.bytes
    assert data[17:19] == bytes([300 & 0x7F | 0x80, 300 >> 7])  # unsigned varint
    assert len(data) == 1 + 16 + 2 + 16 + 4  # truncated HMAC-SHA256, 4 bytes of checksum
    assert data[-4:] == hashlib.sha256(data[:-4]).digest()[:4]
    assert len(refresh_tokens.encode(SECRET, SESSION, 0)) == 51


def test_another_secret_or_session_does_not_verify() -> None:
    parsed = refresh_tokens.parse(refresh_tokens.encode(SECRET, SESSION, 5))
    assert parsed is not None
    assert not refresh_tokens.verify(b"t" * 32, parsed)
    other = uuid.uuid4()
    moved = raw(refresh_tokens.encode(SECRET, SESSION, 5))[:-4]
    forged = refresh_tokens.parse(with_checksum(moved[:1] + other.bytes + moved[17:]))
    assert forged is not None
    assert forged.session_id == other
    assert not refresh_tokens.verify(SECRET, forged)


def test_a_changed_counter_does_not_verify() -> None:
    signed = raw(refresh_tokens.encode(SECRET, SESSION, 5))[:-4]
    forged = refresh_tokens.parse(with_checksum(signed[:17] + bytes([6]) + signed[18:]))
    assert forged is not None
    assert forged.counter == 6
    assert not refresh_tokens.verify(SECRET, forged)


GOOD = raw(refresh_tokens.encode(SECRET, SESSION, 5))


def standard_alphabet() -> str:
    """A valid token written with `+` and `/` (standard base64), not `-` and `_`."""
    token = next(
        t for t in (refresh_tokens.encode(SECRET, SESSION, n) for n in range(1000))
        if "-" in t or "_" in t
    )  # fmt: skip
    return token.replace("-", "+").replace("_", "/")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "x" * 32,  # a hashed-row token (decision 0005)
        "abcdefghijkl",  # GoTrue's old 12-character tokens
        b64(GOOD)[:-1],  # a character short: the checksum fails
        b64(GOOD) + "=",  # padded
        b64(GOOD)[:-2] + "!!",  # not URL-safe base64
        standard_alphabet(),
        with_checksum(bytes([1]) + GOOD[1:-4]),  # version 1
        with_checksum(GOOD[:17] + bytes([0x80]) + GOOD[18:-4]),  # the varint eats a byte
        with_checksum(GOOD[:17] + bytes([0xFF] * 10) + GOOD[18:-4]),  # the varint never ends
        with_checksum(GOOD[:-4] + b"extra"),  # a longer signature
        b64(GOOD[:-4] + b"\0\0\0\0"),  # a wrong checksum
        "A" * 400,
    ],
)
def test_malformed_tokens_do_not_parse(token: str) -> None:
    assert refresh_tokens.parse(token) is None
