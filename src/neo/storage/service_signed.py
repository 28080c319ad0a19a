"""Signed URLs: download tokens for one or many objects, and signed upload URLs.

Tokens are HS256 JWTs with storage-api's claims: `url` = "bucket/key", plus NEO's `scope`
("download" | "upload") so a download token cannot upload; upload tokens carry `owner` and
`upsert`. Creating a token needs the caller's SELECT (download) or INSERT (upload) rights;
using one needs no auth.

As in Supabase, storage signs URLs with a key of its own, not with auth's signing keys: a
signed URL stays valid until its own expiry (up to `max_signed_url_expires`, ten years)
whatever happens to the keys that sign access tokens (rotation, automatic retirement one
token lifetime later, `keys.legacy_hs256` off). The key is derived from the key set's JWT
secret (HMAC-SHA256 with a fixed label), so every process and instance sharing the key set
signs and verifies alike, and it is named by its own `kid`, which no access-token key has:
a URL token is never an access token. Tokens from before this key (signed by the key ring)
are still verified by the key ring, until their key is retired.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import time
from typing import Any
from urllib.parse import quote

import jwt

from neo.core.errors import InvalidToken
from neo.storage.caller import Caller
from neo.storage.errors import InvalidJWT, InvalidSignature, StorageError
from neo.storage.names import check_key
from neo.storage.service_object import bucket_for_write, find_object, new_row, probe_write
from neo.storage.state import StorageState
from neo.storage.transform import parse_transform

NOT_ACCESSIBLE = "Either the object does not exist or you do not have access to it"


URL_KID = "neo-storage-url-1"
_URL_KEY_LABEL = b"neo storage signed URLs, key 1"


@functools.lru_cache(maxsize=8)
def _url_key(jwt_secret: str) -> bytes:
    """Storage's URL-signing key of a key set, derived from its JWT secret."""
    return hmac.new(jwt_secret.encode(), _URL_KEY_LABEL, hashlib.sha256).digest()


def _sign(state: StorageState, claims: dict[str, Any], expires_in: int) -> str:
    now = int(time.time())
    expires_in = min(expires_in, state.settings.max_signed_url_expires)
    key = _url_key(state.core.keys.jwt_secret)
    payload = claims | {"iat": now, "exp": now + expires_in}
    return jwt.encode(payload, key, algorithm="HS256", headers={"kid": URL_KID})


def _verify(state: StorageState, token: str) -> dict[str, Any]:
    """The claims of a token signed with storage's URL key, or (older URLs) by the key ring."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        kid = None  # malformed: the key ring names the fault as it does for any token
    if kid != URL_KID:
        try:
            return state.core.keys.verify(token)
        except InvalidToken as exc:
            raise InvalidJWT(exc.reason) from None
    key = _url_key(state.core.keys.jwt_secret)
    try:
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=["HS256"], options={"verify_aud": False, "require": ["exp"]}
        )
    except jwt.ExpiredSignatureError:
        raise InvalidJWT("JWT expired") from None
    except jwt.PyJWTError:
        raise InvalidJWT("JWT cryptographic operation failed") from None
    return claims


def _path(bucket_id: str, key: str) -> str:
    return quote(f"{bucket_id}/{key}", safe="/")


async def sign_url(
    state: StorageState,
    caller: Caller,
    bucket_id: str,
    key: str,
    expires_in: int,
    transform: dict[str, Any] | None = None,
) -> dict[str, str]:
    """`{"signedURL": "/object/sign/bucket/key?token=…"}` for an object the caller can read;
    with `transform`, a `/render/image/sign/…` URL whose token fixes the transformation."""
    await find_object(caller, bucket_id, key)
    claims: dict[str, Any] = {"url": f"{bucket_id}/{key}", "scope": "download"}
    route = "object/sign"
    if transform:
        claims["transformations"] = parse_transform(transform).encode()
        route = "render/image/sign"
    token = _sign(state, claims, expires_in)
    return {"signedURL": f"/{route}/{_path(bucket_id, key)}?token={token}"}


async def sign_urls(
    state: StorageState, caller: Caller, bucket_id: str, keys: list[str], expires_in: int
) -> list[dict[str, Any]]:
    """One entry per path: a signed URL, or the error storage-api gives."""
    out: list[dict[str, Any]] = []
    for key in keys:
        try:
            signed = await sign_url(state, caller, bucket_id, key, expires_in)
        except StorageError:
            out.append({"error": NOT_ACCESSIBLE, "path": key, "signedURL": None})
        else:
            out.append({"error": None, "path": key, "signedURL": signed["signedURL"]})
    return out


def verify_token(
    state: StorageState, token: str | None, bucket_id: str, key: str, *, scope: str
) -> dict[str, Any]:
    """The claims of a valid token for exactly this object and scope."""
    if not token:
        raise InvalidJWT("Missing token")
    claims = _verify(state, token)
    if "exp" not in claims or claims.get("url") != f"{bucket_id}/{key}":
        raise InvalidSignature()
    if claims.get("scope", "download") != scope:
        raise InvalidSignature()
    return claims


async def sign_upload_url(
    state: StorageState, caller: Caller, bucket_id: str, key: str, *, upsert: bool
) -> dict[str, str]:
    """A URL anyone holding it may upload to once, checked against the caller's rights now."""
    check_key(key)
    await bucket_for_write(state, bucket_id)
    await probe_write(caller, new_row(caller, bucket_id, key), upsert=upsert)
    claims = {"url": f"{bucket_id}/{key}", "scope": "upload", "owner": caller.sub, "upsert": upsert}
    token = _sign(state, claims, state.settings.signed_upload_url_expires)
    url = f"/object/upload/sign/{_path(bucket_id, key)}?token={token}"
    return {"url": url, "token": token}


async def find_signed_object(
    state: StorageState, token: str | None, bucket_id: str, key: str
) -> dict[str, Any]:
    """The object a download token grants."""
    verify_token(state, token, bucket_id, key, scope="download")
    return await find_object(Caller.superuser(state.core.db), bucket_id, key)
