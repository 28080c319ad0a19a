"""Turn an upload request body into a checked stream of the file's bytes, never buffering
more than a small body (`SMALL_BODY`, 4 MiB with a declared length), which is read whole and
stored in one go (one transaction: see `service_object`).

Raw bodies (supabase-js with a Buffer) take type, cache control and user metadata from the
headers (`content-type`, `cache-control`, `x-metadata` as base64 JSON); with
`Content-Transfer-Encoding: base64` the body is base64 (optionally a data URL), decoded as
it streams, for clients that carry images inline. Multipart bodies
(supabase-py, supabase-js with a Blob) are parsed as they arrive: small form fields
(`cacheControl`, `metadata`, `contentType`) are kept, and the file part's bytes flow on. The
MIME type is checked as soon as it is known and the size as bytes arrive, so a refused
upload stores nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from python_multipart.exceptions import ParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from neo.storage.errors import EntityTooLarge, InvalidRequest
from neo.storage.names import check_header_value, check_mime

DEFAULT_TYPE = "text/plain;charset=UTF-8"
MAX_FIELD = 64 * 1024
MULTIPART_SLACK = 1024 * 1024  # form fields and boundaries around the file part
SMALL_BODY = 4 * 1024 * 1024  # bodies up to this size are read whole, then stored in one go


@dataclass
class UploadBody:
    """One upload's bytes and what came with them (complete once `chunks` is exhausted)."""

    request: Request
    limit: int
    allowed: list[str] | None
    content_type: str = DEFAULT_TYPE
    cache_control: str = "no-cache"
    user_metadata: dict[str, Any] | None = None
    size: int = 0
    fields: dict[str, bytearray] = field(default_factory=dict)

    def _count(self, chunk: bytes) -> bytes:
        self.size += len(chunk)
        if self.size > self.limit:
            raise EntityTooLarge()
        return chunk

    def is_small(self) -> bool:
        """Whether the declared body is small enough to be read whole."""
        declared = self.request.headers.get("content-length", "")
        if not (declared.isascii() and declared.isdigit()):
            return False
        return int(declared) <= SMALL_BODY

    async def read_all(self) -> bytes:
        """The whole file (a small body), checked against the limit set now."""
        return b"".join([chunk async for chunk in self.chunks()])

    def check(self, limit: int, allowed: list[str] | None) -> None:
        """Check a body read whole against a bucket's size limit and MIME types."""
        if self.size > limit:
            raise EntityTooLarge()
        check_mime(self.content_type, allowed)

    def chunks(self) -> AsyncIterator[bytes]:
        """The file's bytes, checked against the size limit and allowed MIME types."""
        headers = self.request.headers
        declared = int(headers.get("content-length") or 0)
        mime, params = parse_options_header(headers.get("content-type", ""))
        if mime == b"multipart/form-data":
            if declared > self.limit + MULTIPART_SLACK:
                raise EntityTooLarge()
            return self._multipart(params.get(b"boundary", b""))
        if declared > self.limit:
            raise EntityTooLarge()
        self.content_type = headers.get("content-type") or self.content_type
        check_header_value(self.content_type, "content-type")
        check_mime(self.content_type, self.allowed)
        self.cache_control = check_header_value(
            headers.get("cache-control") or "no-cache", "cache-control"
        )
        self.user_metadata = _decode_header_metadata(headers.get("x-metadata"))
        if headers.get("content-transfer-encoding", "").strip().lower() == "base64":
            return self._raw(_base64_decoded(self.request.stream()))
        return self._raw(self.request.stream())

    async def _raw(self, stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for chunk in stream:
            if chunk:
                yield self._count(chunk)

    async def _multipart(self, boundary: bytes) -> AsyncIterator[bytes]:
        if not boundary:
            raise InvalidRequest("multipart body without a boundary")
        parts = _PartCollector(self)
        parser = MultipartParser(boundary, parts.callbacks())
        async for chunk in self.request.stream():
            _parse(parser.write, chunk)
            for piece in parts.drain():
                yield self._count(piece)
        _parse(parser.finalize)
        for piece in parts.drain():
            yield self._count(piece)
        if not parts.saw_file:
            raise InvalidRequest("No file part in the multipart body")
        self._apply_fields()

    def _apply_fields(self) -> None:
        cache = self.fields.get("cacheControl")
        if cache:
            value = cache.decode("utf-8", "replace")  # refused below if it was not UTF-8
            self.cache_control = (
                f"max-age={value}" if value.isascii() and value.isdigit() else value
            )
            check_header_value(self.cache_control, "cacheControl")
        meta = self.fields.get("metadata")
        if meta:
            self.user_metadata = _json_object(bytes(meta))


def _parse(step: Callable[..., object], *data: bytes) -> None:
    """One step of the multipart parser; a malformed body is the client's error."""
    try:
        step(*data)
    except ParseError as exc:
        raise InvalidRequest(f"malformed multipart body: {exc}") from None


class _PartCollector:
    """python-multipart callbacks: headers of each part, file bytes queued, fields kept."""

    def __init__(self, body: UploadBody) -> None:
        self.body = body
        self.headers: dict[bytes, bytes] = {}
        self.header_field, self.header_value = bytearray(), bytearray()
        self.current: str | None = None  # field name, or "" for the file part
        self.saw_file = False
        self.queue: list[bytes] = []

    def callbacks(self) -> Any:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda d, s, e: self.header_field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self.header_value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_done,
            "on_part_data": self._data,
        }

    def drain(self) -> list[bytes]:
        queued, self.queue = self.queue, []
        return queued

    def _begin(self) -> None:
        self.headers, self.current = {}, None

    def _header_end(self) -> None:
        self.headers[bytes(self.header_field).lower()] = bytes(self.header_value)
        self.header_field, self.header_value = bytearray(), bytearray()

    def _headers_done(self) -> None:
        _, params = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        is_file = b"filename" in params or name in {"", "file"}
        if is_file and not self.saw_file:
            self.saw_file, self.current = True, ""
            raw = self.headers.get(b"content-type", b"").decode("utf-8", "replace")
            mime = check_header_value(raw, "content-type") or DEFAULT_TYPE
            check_mime(mime, self.body.allowed)
            self.body.content_type = mime
        elif not is_file:
            self.current = name
            self.body.fields[name] = bytearray()

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self.current == "":
            self.queue.append(bytes(data[start:end]))
        elif self.current is not None:
            value = self.body.fields[self.current]
            if len(value) + end - start > MAX_FIELD:
                raise InvalidRequest(f"form field {self.current} is too large")
            value.extend(data[start:end])


async def _base64_decoded(stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Decode a base64 body as it streams (whitespace ignored; a `data:…;base64,` prefix too)."""
    pending, first = b"", True
    async for chunk in stream:
        data = pending + b"".join(chunk.split())
        if first:
            if _maybe_data_url_prefix(data):
                pending = data  # wait for the comma that ends the prefix
                continue
            if data.startswith(b"data:"):
                if b"," not in data:
                    raise InvalidRequest("data URL without a comma")
                data = data.split(b",", 1)[1]
            first = False
        usable = len(data) - len(data) % 4
        pending = data[usable:]
        if usable:
            yield _b64(data[:usable])
    if pending:
        yield _b64(pending)


def _maybe_data_url_prefix(data: bytes) -> bool:
    """True while `data` may still be an unfinished `data:…,` prefix."""
    if len(data) > 1024:
        return False
    return b"data:".startswith(data[:5]) and (len(data) < 5 or b"," not in data)


def _b64(data: bytes) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error:
        raise InvalidRequest("body is not valid base64") from None


def _decode_header_metadata(value: str | None) -> dict[str, Any] | None:
    if not value:
        return None
    try:
        return _json_object(base64.b64decode(value, validate=False))
    except binascii.Error:
        raise InvalidRequest("x-metadata is not base64") from None


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvalidRequest("metadata is not valid JSON") from None
    if not isinstance(value, dict):
        raise InvalidRequest("metadata must be a JSON object")
    return value
