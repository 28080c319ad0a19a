"""AWS Signature Version 4 for the S3 protocol endpoint (`/storage/v1/s3`).

A request is accepted when its `Authorization: AWS4-HMAC-SHA256 …` header was made with the
configured access key and secret (storage-api's S3 protocol keys, which act as the service
role), for service `s3`, within 15 minutes of now; a presigned URL carries the same in its
`X-Amz-*` query parameters and is valid for its `X-Amz-Expires` (at most 7 days). S3 signs
the path exactly as sent and the payload's SHA-256 as declared in `x-amz-content-sha256`;
`verified_receive` then checks the body against that declaration as it arrives, so a body
that does not match is never stored. Streaming (aws-chunked) payloads are not supported.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote, unquote

from starlette.datastructures import Headers
from starlette.types import Message, Receive

from neo.storage.errors import StorageError
from neo.storage.settings import S3ProtocolSettings

UNSIGNED = "UNSIGNED-PAYLOAD"
MAX_SKEW = timedelta(minutes=15)
MAX_PRESIGNED = timedelta(days=7)
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*"
    r"Signature=([0-9a-f]{64})$"
)


class S3AuthError(StorageError):
    """An S3 request that is not (validly) signed."""

    status, code, error = 403, "AccessDenied", "AccessDenied"
    message = "Access Denied"


@dataclass(frozen=True)
class _Claim:
    """What a request says about its signature, from its headers or its query string."""

    credential: str
    signed_headers: str
    signature: str
    amz_date: str
    payload: str
    query: str  # the query string that was signed
    expires: timedelta = MAX_SKEW


def verify(
    settings: S3ProtocolSettings, method: str, raw_path: str, raw_query: str, headers: Headers
) -> str:
    """Check the request's signature; the declared payload hash (hex, or UNSIGNED-PAYLOAD)."""
    secret = settings.secret_access_key
    if not settings.access_key_id or secret is None:
        raise S3AuthError("The S3 protocol is not configured on this server")
    claim = (
        _presigned(raw_query) if "X-Amz-Signature=" in raw_query else _header(headers, raw_query)
    )
    key_id, day, region, service, terminal = (claim.credential.split("/") + [""] * 5)[:5]
    if service != "s3" or terminal != "aws4_request":
        raise S3AuthError("Credential scope must be <day>/<region>/s3/aws4_request")
    if not hmac.compare_digest(key_id.encode(), settings.access_key_id.encode()):
        raise S3AuthError("The access key id does not exist", code="InvalidAccessKeyId")
    _check_time(claim, day)
    names = claim.signed_headers.split(";")
    canonical = "\n".join(
        [
            method,
            raw_path,
            canonical_query(claim.query),
            "".join(f"{n}:{' '.join(headers.get(n, '').split())}\n" for n in names),
            claim.signed_headers,
            claim.payload,
        ]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    to_sign = f"AWS4-HMAC-SHA256\n{claim.amz_date}\n{scope}\n{digest}"
    key = signing_key(secret.get_secret_value(), day, region)
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, claim.signature):
        raise S3AuthError("The request signature does not match", code="SignatureDoesNotMatch")
    return claim.payload


def _header(headers: Headers, raw_query: str) -> _Claim:
    match = _AUTH.match(headers.get("authorization", "").strip())
    if match is None:
        raise S3AuthError("Missing or malformed AWS4-HMAC-SHA256 authorization", status=400,
                          code="AuthorizationHeaderMalformed")  # fmt: skip
    payload = headers.get("x-amz-content-sha256", "")
    if payload != UNSIGNED and not re.fullmatch(r"[0-9a-f]{64}", payload):
        raise S3AuthError("x-amz-content-sha256 must be a SHA-256 or UNSIGNED-PAYLOAD",
                          status=400, code="NotImplemented")  # fmt: skip
    credential, signed_headers, signature = match.groups()
    amz_date = headers.get("x-amz-date", "")
    return _Claim(credential, signed_headers, signature, amz_date, payload, raw_query)


def _presigned(raw_query: str) -> _Claim:
    """A presigned URL: the signature and its scope in the query, the payload unsigned."""
    params = dict(parse_qsl(raw_query, keep_blank_values=True))
    signed = "&".join(p for p in raw_query.split("&") if not p.startswith("X-Amz-Signature="))
    try:
        if params["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256":
            raise KeyError("X-Amz-Algorithm")
        expires = timedelta(seconds=int(params["X-Amz-Expires"]))
        return _Claim(params["X-Amz-Credential"], params["X-Amz-SignedHeaders"],
                      params["X-Amz-Signature"], params["X-Amz-Date"], UNSIGNED, signed,
                      min(expires, MAX_PRESIGNED))  # fmt: skip
    except (KeyError, ValueError):
        raise S3AuthError("A presigned URL needs the X-Amz-* query parameters", status=400,
                          code="AuthorizationQueryParametersError") from None  # fmt: skip


def canonical_query(raw_query: str) -> str:
    """SigV4's canonical query string: every pair URI-encoded once, sorted."""
    pairs = []
    for part in raw_query.split("&") if raw_query else []:
        name, _, value = part.partition("=")
        pairs.append((quote(unquote(name), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def signing_key(secret: str, day: str, region: str) -> bytes:
    """The day's key derived from the secret (HMAC chain of SigV4)."""
    key = ("AWS4" + secret).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _check_time(claim: _Claim, day: str) -> None:
    """Headers: within 15 minutes of now; presigned URLs: not expired (at most 7 days)."""
    try:
        when = datetime.strptime(claim.amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise S3AuthError("x-amz-date is missing or malformed") from None
    if claim.amz_date[:8] != day:
        raise S3AuthError("x-amz-date does not match the credential scope's day")
    now = datetime.now(UTC)
    if when - now > MAX_SKEW or now - when > claim.expires:
        raise S3AuthError(
            "The request has expired or is not yet valid", code="RequestTimeTooSkewed"
        )


def verified_receive(receive: Receive, payload: str) -> Receive:
    """`receive`, checking the body's SHA-256 against the signed declaration at its end."""
    if payload == UNSIGNED:
        return receive
    sha = hashlib.sha256()

    async def checked() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            sha.update(message.get("body", b""))
            if not message.get("more_body", False) and sha.hexdigest() != payload:
                raise S3AuthError("The body does not match x-amz-content-sha256", status=400,
                                  code="XAmzContentSHA256Mismatch")  # fmt: skip
        return message

    return checked
