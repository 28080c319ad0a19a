"""storage-api's errors and the one renderer of their body.

Body: `{"statusCode": "<logical status as a string>", "code", "error", "message"}`; the HTTP
status is 400 for every error whose logical status is not 5xx (spec §3.2), unless an error
sets `http_status`. Gateway errors (InvalidToken, UnknownRole) become `InvalidJWT`.
"""

from __future__ import annotations

import re
from typing import Any
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from neo.core.errors import InvalidToken, NeoError, UnknownRole

# URL prefixes whose errors take another shape (storage's prefix is `router.PREFIX`).
TUS_PATH = "/storage/v1/upload/resumable"
S3_PATH = "/storage/v1/s3"
_S3_CODES = {
    "Duplicate": "BucketAlreadyExists",
    "InvalidKey": "InvalidArgument",
    "invalid_input": "InvalidArgument",
}
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """`text` with the characters XML 1.0 cannot carry (control characters such as NUL, lone
    surrogates) replaced by U+FFFD: a client's input echoed into an S3 document must not
    make it unreadable."""
    return _NOT_XML.sub("\ufffd", text)


class StorageError(NeoError):
    """Base of storage's errors: `code` is storage-api's ErrorCode, `error` its short label."""

    status, code, message = 400, "InvalidRequest", "Invalid request"
    error: str = "invalid_request"
    http_status: int | None = None


class NoSuchBucket(StorageError):
    status, code, message, error = 404, "NoSuchBucket", "Bucket not found", "Bucket not found"


class NoSuchKey(StorageError):
    status, code, message, error = 404, "NoSuchKey", "Object not found", "not_found"


class ResourceAlreadyExists(StorageError):
    status, code, error = 409, "Duplicate", "Duplicate"
    message = "The resource already exists"


class BucketNotEmpty(StorageError):
    status, code, error = 409, "InvalidRequest", "Bucket not empty"
    message = "The bucket you tried to delete is not empty"


class AccessDenied(StorageError):
    status, code, error = 403, "AccessDenied", "Unauthorized"
    message = "new row violates row-level security policy"


class EntityTooLarge(StorageError):
    status, code, error = 413, "EntityTooLarge", "Payload too large"
    message = "The object exceeded the maximum allowed size"


class InvalidMimeType(StorageError):
    status, code, error = 415, "InvalidMimeType", "invalid_mime_type"

    def __init__(self, mime: str) -> None:
        super().__init__(f"mime type {mime} is not supported")


class InvalidKey(StorageError):
    code, error = "InvalidKey", "Invalid Input"

    def __init__(self, key: str) -> None:
        super().__init__(f"Invalid key: {key}")


class InvalidBucketName(StorageError):
    code, error, message = "InvalidBucketName", "Invalid Input", "Bucket name invalid"


class InvalidRequest(StorageError):
    code, error = "InvalidRequest", "Invalid Input"


class InvalidSignature(StorageError):
    code, error, message = "InvalidSignature", "InvalidSignature", "Invalid signature"


class InvalidJWT(StorageError):
    code, error, message = "InvalidJWT", "InvalidJWT", "Invalid JWT"


class InvalidRange(StorageError):
    status, code, error = 416, "InvalidRange", "Invalid Range"
    message = "The requested range is not satisfiable"
    http_status = 416


class NoSuchUpload(StorageError):
    status, code, error, message = 404, "NoSuchUpload", "not_found", "Upload not found"


class UploadOffsetMismatch(StorageError):
    status, code, error = 409, "InvalidUploadOffset", "Conflict"
    message = "Upload-Offset does not match the upload's current offset"


class UploadLocked(StorageError):
    status, code, error = 423, "UploadLocked", "Locked"
    message = "Another request is writing to this upload"


class TusVersionUnsupported(StorageError):
    status, code, error = 412, "TusVersionUnsupported", "Precondition Failed"
    message = "Unsupported Tus-Resumable version (supported: 1.0.0)"

    def __init__(self) -> None:
        super().__init__(headers={"Tus-Version": "1.0.0"})


class BackendFailed(StorageError):
    """The byte backend failed (disk, S3); rendered as a 500 hiding internals."""

    status, code, error, message = 500, "InternalError", "internal", "Internal Server Error"


def _as_storage_error(error: NeoError) -> StorageError:
    if isinstance(error, StorageError):
        return error
    if isinstance(error, InvalidToken):
        return InvalidJWT(error.reason)
    if isinstance(error, UnknownRole):
        return InvalidJWT(error.message)
    if error.status == 404:
        return StorageError(error.message, status=404, code="NotFound")
    return StorageError(error.message, status=error.status, code=error.code)


def render_storage_error(error: NeoError, request: Request) -> Response:
    """Render `error` in storage-api's shape (HTTP 400 with the logical status in the body);
    TUS routes answer as tus servers do (the status itself and the message as text) and S3
    routes with S3's XML.

    An error for a request that carries a body closes the connection: the body may be
    unread (a client waiting for `100 Continue` never sends it), and what is left of it
    must not be taken for the next request."""
    err = _as_storage_error(error)
    if request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers:
        err.headers["connection"] = "close"
    path = request.url.path
    if path == TUS_PATH or path.startswith(TUS_PATH + "/"):
        return _tus_error(err, request)
    if path == S3_PATH or path.startswith(S3_PATH + "/"):
        return _s3_error(err, request)
    body: dict[str, Any] = {
        "statusCode": str(err.status),
        "code": err.code,
        "error": getattr(err, "error", err.code),
        "message": err.message,
    }
    status = err.status if err.status >= 500 else err.http_status or 400
    if request.method == "HEAD":
        return Response(status_code=status, headers=err.headers)
    return JSONResponse(body, status_code=status, headers=err.headers)


def _tus_error(err: StorageError, request: Request) -> Response:
    headers = {**err.headers, "Tus-Resumable": "1.0.0"}
    message = "Internal Server Error" if err.status >= 500 else err.message
    body = b"" if request.method == "HEAD" else message.encode()
    return Response(body, status_code=err.status, headers=headers, media_type="text/plain")


def _s3_error(err: StorageError, request: Request) -> Response:
    """S3's `<Error>` document with the real status."""
    if err.status >= 500:
        code, message = "InternalError", "We encountered an internal error. Please try again."
    else:
        code, message = _S3_CODES.get(err.code, err.code), err.message
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error>'
        f"<Code>{escape(code)}</Code><Message>{escape(xml_safe(message))}</Message>"
        f"<Resource>{escape(xml_safe(request.url.path))}</Resource></Error>"
    )
    content = b"" if request.method == "HEAD" else body.encode()
    return Response(
        content, status_code=err.status, headers=err.headers, media_type="application/xml"
    )
