"""Object downloads as HTTP responses: streamed bytes, Range (206/416), ETag and
If-None-Match / If-Modified-Since (304), `?download` as Content-Disposition.

The backend stream is opened before the response starts, so a version deleted meanwhile is
a clean NoSuchKey rather than a broken body; the database connection is long released.
A plain GET of a local object may find its bytes opened while its row was read
(`read_ahead`). A small local span (64 KiB at most) is read when the file is opened and
sent as one body; the bytes of a larger one, when the server offers ASGI's zero-copy send
(`neo start` does), are copied by the server from the open file with sendfile(2), never
through Python; otherwise (an in-process client, TLS), and for S3, they are streamed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from neo.core.http_sendfile import ZEROCOPY
from neo.storage.backends import ByteStream, Location
from neo.storage.backends.local import LocalStream
from neo.storage.errors import InvalidRange, NoSuchKey
from neo.storage.names import header_text
from neo.storage.read_ahead import ReadAhead
from neo.storage.state import StorageState

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _last_modified(row: dict[str, Any]) -> datetime:
    meta = row.get("metadata") or {}
    text = meta.get("lastModified")
    if isinstance(text, str):
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
    value = row.get("updated_at") or row.get("created_at")
    return value if isinstance(value, datetime) else datetime.now(UTC)


def _not_modified(request: Request, etag: str, modified: datetime) -> bool:
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or etag in tags
    since = request.headers.get("if-modified-since")
    if since:
        try:
            return modified.replace(microsecond=0) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end) inclusive for a single `bytes=` range; None for the whole object."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if not match or (not match[1] and not match[2]):
        return None  # unsupported forms (several ranges) get the whole object, as RFC 9110 allows
    if not match[1]:
        start, end = max(0, size - int(match[2])), size - 1
    else:
        start = int(match[1])
        end = min(int(match[2]), size - 1) if match[2] else size - 1
    if start >= size or start > end:
        raise InvalidRange(headers={"content-range": f"bytes */{size}"})
    return start, end


def disposition(download: str | None, name: str) -> str | None:
    """Content-Disposition for `?download[=name]`; None without the parameter."""
    if download is None:
        return None
    filename = download or name.rsplit("/", 1)[-1]
    ascii_name = header_text(filename.encode("ascii", "replace").decode().replace('"', ""), "")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


async def object_response(
    state: StorageState,
    request: Request,
    row: dict[str, Any],
    *,
    download: str | None,
    ahead: ReadAhead | None = None,
) -> Response:
    """The object of `row` as a (partial) response; `ahead` may hold its bytes opened."""
    meta = row.get("metadata") or {}
    size = int(meta.get("size") or 0)
    etag = header_text(meta.get("eTag"), "")
    modified = _last_modified(row)
    headers = {
        "etag": etag,
        "last-modified": format_datetime(modified.astimezone(UTC), usegmt=True),
        "cache-control": header_text(meta.get("cacheControl"), "no-cache"),
        "accept-ranges": "bytes",
    }
    if _not_modified(request, etag, modified):
        return Response(status_code=304, headers=headers)
    if attachment := disposition(download, row["name"]):
        headers["content-disposition"] = attachment
    span = parse_range(request.headers.get("range"), size)
    start, end = span or (0, size - 1)
    headers["content-length"] = str(max(0, end - start + 1))
    status = 200
    if span is not None:
        status, headers["content-range"] = 206, f"bytes {start}-{end}/{size}"
    mime = header_text(meta.get("mimetype"), "application/octet-stream")
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=mime)
    stream: ByteStream | None = None
    if ahead is not None and span is None:
        stream = await ahead.take(row["version"], size)
    if stream is None:
        loc = Location(row["bucket_id"], row["name"], row["version"])
        try:
            stream = await state.backend.open(loc, start, end)
        except FileNotFoundError:
            raise NoSuchKey() from None
    return _body_response(request, stream, status=status, headers=headers, mime=mime)


def _body_response(
    request: Request, stream: ByteStream, *, status: int, headers: dict[str, str], mime: str
) -> Response:
    """The opened bytes as one body, a zero-copy send, or a stream (see the module doc)."""
    if isinstance(stream, LocalStream):
        if stream.body is not None:
            return Response(stream.body, status_code=status, headers=headers, media_type=mime)
        if ZEROCOPY in request.scope.get("extensions", ()):
            return ZeroCopyResponse(stream, status_code=status, headers=headers, media_type=mime)
    return StreamingResponse(stream, status_code=status, headers=headers, media_type=mime)


class ZeroCopyResponse(Response):
    """A local file's span, sent by the server's `http.response.zerocopysend` from the open
    file. The file is closed at the end."""

    def __init__(
        self, stream: LocalStream, *, status_code: int, headers: dict[str, str], media_type: str
    ) -> None:
        super().__init__(None, status_code=status_code, headers=headers, media_type=media_type)
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stream = self.stream
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            await send(
                {
                    "type": ZEROCOPY,
                    "file": stream.handle,
                    "offset": stream.offset,
                    "count": stream.left,
                }
            )
        finally:
            stream.close()
