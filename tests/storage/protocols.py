"""Clients' side of storage's other protocols for tests: SigV4 signing for the S3 endpoint
(with the keys the tests configure) and TUS's `Upload-Metadata` header."""

from __future__ import annotations

import base64
import hashlib

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

KEYS = {"access_key_id": "neo-fuzz-key", "secret_access_key": "neo-fuzz-secret-0123456789"}
CREDS = Credentials(KEYS["access_key_id"], KEYS["secret_access_key"])


def signed(method: str, url: str, body: bytes, headers: dict[str, str], *, sign_body: bool
           ) -> dict[str, str]:  # fmt: skip
    """`headers` plus SigV4's, for the S3 endpoint's keys."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    request.headers["x-amz-content-sha256"] = (
        hashlib.sha256(body).hexdigest() if sign_body else "UNSIGNED-PAYLOAD"
    )
    S3SigV4Auth(CREDS, "s3", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def tus_metadata(bucket: str, key: str) -> str:
    """TUS `Upload-Metadata` for an object `key` in `bucket` (text/plain)."""

    def b64(value: str) -> str:
        return base64.b64encode(value.encode()).decode()

    return f"bucketName {b64(bucket)},objectName {b64(key)},contentType {b64('text/plain')}"
