"""storage-api's errors and the one renderer of their body.

Body: `{"statusCode": "<logical status as a string>", "code", "error", "message"}`; the HTTP
status is 400 for every error whose logical status is not 5xx (spec §3.2), unless an error
sets `http_status`. Gateway errors (InvalidToken, UnknownRole) become `InvalidJWT`.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from neo.core.errors import InvalidToken, NeoError, UnknownRole


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
    """Render `error` in storage-api's shape (HTTP 400 with the logical status in the body)."""
    err = _as_storage_error(error)
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
