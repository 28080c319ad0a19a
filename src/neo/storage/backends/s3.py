"""The S3 backend (aioboto3): `<bucket>/<key>/<version>` objects in one S3 bucket.

Writes stream in parts: a body smaller than one part is a single PutObject, anything larger
a multipart upload (completed only when every part is in, so nothing is visible before;
aborted on failure, and unfinished ones are aborted by the sweep). At most one part is held
in memory per upload. The ETag is NEO's own MD5 of the bytes, as on local disk, because
S3's multipart ETags are not content hashes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aioboto3
from botocore.config import Config
from botocore.exceptions import ClientError

from neo.storage.backends import Location, Written, file_chunks
from neo.storage.settings import S3Settings

READ_CHUNK = 1024 * 1024
_MISSING = {"NoSuchKey", "404", "NotFound"}


class S3Stream:
    """A GetObject body read in chunks."""

    def __init__(self, body: Any) -> None:
        self._body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            while chunk := await self._body.read(READ_CHUNK):
                yield chunk
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        self._body.close()


class S3Backend:
    """Object bytes in an S3 bucket."""

    def __init__(self, settings: S3Settings) -> None:
        self.settings = settings
        self.bucket = settings.bucket
        self._stack = AsyncExitStack()
        self.client: Any = None

    async def start(self) -> None:
        s = self.settings
        session = aioboto3.Session()
        secret = s.secret_key.get_secret_value() if s.secret_key else None
        config = Config(s3={"addressing_style": "path" if s.force_path_style else "auto"})
        self.client = await self._stack.enter_async_context(
            session.client(
                "s3",
                endpoint_url=s.endpoint,
                region_name=s.region,
                aws_access_key_id=s.access_key,
                aws_secret_access_key=secret,
                config=config,
            )
        )
        if s.create_bucket:
            try:
                await self.client.head_bucket(Bucket=self.bucket)
            except ClientError:
                await self.client.create_bucket(Bucket=self.bucket)

    async def close(self) -> None:
        await self._stack.aclose()

    @staticmethod
    def object_key(loc: Location) -> str:
        """The S3 key of one version."""
        return f"{loc.bucket}/{loc.key}/{loc.version}"

    async def adopt(self, loc: Location, path: Path, *, content_type: str) -> Written:
        return await self.write(loc, file_chunks(path), content_type=content_type)

    async def write(
        self, loc: Location, chunks: AsyncIterable[bytes], *, content_type: str
    ) -> Written:
        upload = _Multipart(self, self.object_key(loc), content_type)
        try:
            async for chunk in chunks:
                await upload.add(chunk)
            await upload.finish()
        except BaseException:
            await upload.abort()
            raise
        return Written(size=upload.size, etag=f'"{upload.md5.hexdigest()}"')

    async def stage(self, loc: Location, data: bytes, *, content_type: str) -> _StagedPut:
        digest = await asyncio.to_thread(hashlib.md5, data, usedforsecurity=False)
        written = Written(size=len(data), etag=f'"{digest.hexdigest()}"')
        return _StagedPut(self, loc, data, written, content_type)

    async def open(self, loc: Location, start: int = 0, end: int | None = None) -> S3Stream:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self.object_key(loc)}
        if start or end is not None:
            if end is not None and end < start:
                return S3Stream(_EmptyBody())
            args["Range"] = f"bytes={start}-{'' if end is None else end}"
        try:
            res = await self.client.get_object(**args)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise FileNotFoundError(self.object_key(loc)) from None
            raise
        return S3Stream(res["Body"])

    async def copy(self, src: Location, dst: Location) -> None:
        source = {"Bucket": self.bucket, "Key": self.object_key(src)}
        try:
            await self.client.copy_object(
                Bucket=self.bucket, Key=self.object_key(dst), CopySource=source
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise FileNotFoundError(self.object_key(src)) from None
            raise

    async def delete(self, locs: Sequence[Location]) -> None:
        keys = [{"Key": self.object_key(loc)} for loc in locs]
        for i in range(0, len(keys), 1000):
            await self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": keys[i : i + 1000], "Quiet": True}
            )

    async def scan(self, *, older_than: float) -> AsyncIterator[Location]:
        paginator = self.client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket):
            for item in page.get("Contents", []):
                bucket, _, rest = item["Key"].partition("/")
                key, _, version = rest.rpartition("/")
                if key and item["LastModified"].timestamp() < older_than:
                    yield Location(bucket=bucket, key=key, version=version)

    async def abort_incomplete(self, *, older_than: float) -> int:
        res = await self.client.list_multipart_uploads(Bucket=self.bucket)
        aborted = 0
        for upload in res.get("Uploads", []):
            if upload["Initiated"].timestamp() < older_than:
                await self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )
                aborted += 1
        return aborted


class _StagedPut:
    """A small object kept in memory until `place` sends it with one PutObject."""

    def __init__(
        self, backend: S3Backend, loc: Location, data: bytes, written: Written, content_type: str
    ) -> None:
        self.backend, self.loc, self.data, self.written = backend, loc, data, written
        self.content_type = content_type
        self.placed = False

    async def place(self) -> None:
        await self.backend.client.put_object(
            Bucket=self.backend.bucket,
            Key=self.backend.object_key(self.loc),
            Body=self.data,
            ContentType=self.content_type,
        )
        self.placed = True

    async def discard(self) -> None:
        if self.placed:
            await self.backend.delete([self.loc])


class _Multipart:
    """One streamed write: a single PutObject when small, else a multipart upload whose part
    N is sent while part N+1 is received (one part in flight)."""

    def __init__(self, backend: S3Backend, key: str, content_type: str) -> None:
        self.client, self.bucket, self.key = backend.client, backend.bucket, key
        self.part_size, self.content_type = backend.settings.part_size, content_type
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._inflight: asyncio.Future[dict[str, Any]] | None = None

    async def add(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        if self._buffered >= self.part_size:
            await self._send_part()

    def _take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks, self._buffered, self.size = [], 0, self.size + len(data)
        return data

    async def _send_part(self) -> None:
        if self.upload_id is None:
            res = await self.client.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, ContentType=self.content_type
            )
            self.upload_id = str(res["UploadId"])
        data = self._take()
        await asyncio.to_thread(self.md5.update, data)
        if self._inflight is not None:
            self.parts.append(await self._inflight)
        self._inflight = asyncio.ensure_future(self._upload_part(len(self.parts) + 1, data))

    async def _upload_part(self, number: int, data: bytes) -> dict[str, Any]:
        res = await self.client.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=data
        )
        return {"ETag": res["ETag"], "PartNumber": number}

    async def finish(self) -> None:
        """Complete the write: PutObject, or the last part and CompleteMultipartUpload."""
        if self.upload_id is None:
            data = self._take()
            self.md5.update(data)
            await self.client.put_object(
                Bucket=self.bucket, Key=self.key, Body=data, ContentType=self.content_type
            )
            return
        if self._chunks:
            await self._send_part()
        if self._inflight is not None:
            self.parts.append(await self._inflight)
            self._inflight = None
        await self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
        )

    async def abort(self) -> None:
        """Drop what was sent: nothing of an unfinished upload stays in the bucket."""
        if self._inflight is not None:
            with contextlib.suppress(BaseException):
                await self._inflight
        if self.upload_id is not None:
            await self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id
            )


class _EmptyBody:
    async def read(self, _n: int) -> bytes:
        return b""

    def close(self) -> None:
        return None
