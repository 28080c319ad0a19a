"""Session-signed refresh tokens, GoTrue's second format (decision 0012).

A token is unpadded URL-safe base64 of: a version byte (0), the session id (16 bytes), the
session's refresh counter (unsigned varint), the first 16 bytes of HMAC-SHA256 over those
bytes with the session's key, and the first 4 bytes of SHA-256 over everything before (a
cheap check that throws out garbage before any key is derived). The session row holds the
newest counter; nothing is stored per token.

GoTrue keeps a random key per session in `auth.sessions.refresh_token_hmac_key`; NEO stores
only the name of its key there (`KEY_NAME`) and derives the key from the server secret and
the session id, so a copy of the database cannot mint tokens, and a token's signature is
checked before any SQL runs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass

KEY_NAME = "neo1"  # what NEO's sessions hold in refresh_token_hmac_key
_VERSION = 0
_SIGNATURE = 16
_CHECKSUM = 4
_MIN_BYTES = 1 + 16 + 1 + _SIGNATURE + _CHECKSUM
_MAX_BYTES = _MIN_BYTES + 8  # a varint of a 63-bit counter takes 9 bytes at most
_MAX_CHARS = (_MAX_BYTES * 4 + 2) // 3
_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")  # URL-safe base64, unpadded


@dataclass(frozen=True)
class SessionToken:
    """What a well-formed token says: its session and counter (signature not yet checked)."""

    session_id: uuid.UUID
    counter: int
    signed: bytes  # the bytes the signature covers
    signature: bytes


def session_key(secret: bytes, session_id: uuid.UUID) -> bytes:
    """The HMAC key of a session's refresh tokens (`KEY_NAME`)."""
    return hmac.digest(secret, b"neo.auth.refresh:" + session_id.bytes, "sha256")


def encode(secret: bytes, session_id: uuid.UUID, counter: int) -> str:
    """The refresh token carrying `counter` for the session."""
    body = bytes([_VERSION]) + session_id.bytes + _varint(counter)
    signature = hmac.digest(session_key(secret, session_id), body, "sha256")
    signed = body + signature[:_SIGNATURE]
    raw = signed + hashlib.sha256(signed).digest()[:_CHECKSUM]
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def parse(token: str) -> SessionToken | None:
    """The token's parts when it has this format (right length, version and checksum)."""
    if not _MIN_BYTES * 4 // 3 <= len(token) <= _MAX_CHARS or not _ALPHABET.fullmatch(token):
        return None
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) < _MIN_BYTES or raw[0] != _VERSION:
        return None
    signed, checksum = raw[:-_CHECKSUM], raw[-_CHECKSUM:]
    if not hmac.compare_digest(hashlib.sha256(signed).digest()[:_CHECKSUM], checksum):
        return None
    counter, used = _read_varint(signed, 17)
    if counter is None or len(signed) - used != _SIGNATURE:
        return None
    return SessionToken(uuid.UUID(bytes=signed[1:17]), counter, signed[:used], signed[used:])


def verify(secret: bytes, token: SessionToken) -> bool:
    """True when the token was signed with its session's key."""
    key = session_key(secret, token.session_id)
    expected = hmac.digest(key, token.signed, "sha256")[:_SIGNATURE]
    return hmac.compare_digest(expected, token.signature)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_varint(data: bytes, start: int) -> tuple[int | None, int]:
    """(value, index after it); None for a varint that runs off the end or past 63 bits."""
    value, shift = 0, 0
    for index in range(start, min(len(data), start + 9)):
        value |= (data[index] & 0x7F) << shift
        if data[index] < 0x80:
            return (value, index + 1) if value < 2**63 else (None, index + 1)
        shift += 7
    return None, len(data)
