"""Storage settings (`NEO_STORAGE__*`): which backend holds the bytes, limits, signed URLs.

The local backend keeps bytes under `root` (default `<data_dir>/storage`); the S3 backend
talks to any S3 endpoint (MinIO, AWS, moto, radosgw) with path-style addressing by default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from neo.core.settings import Section

MIB = 1024 * 1024


class S3Settings(Section):
    """Where the S3 backend keeps bytes."""

    endpoint: str | None = None  # e.g. http://127.0.0.1:9000; None: AWS
    bucket: str = "neo-storage"
    region: str = "us-east-1"
    access_key: str | None = None
    secret_key: SecretStr | None = None
    force_path_style: bool = True
    create_bucket: bool = True  # create `bucket` at start when missing
    part_size: int = Field(16 * MIB, ge=5 * MIB)  # multipart upload part size


class S3ProtocolSettings(Section):
    """The S3 protocol endpoint's keys (`/storage/v1/s3`); requests signed with them act as
    the service role. Unset: the endpoint refuses every request."""

    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    region: str = "us-east-1"


class StorageSettings(Section):
    """The storage capability's section of the settings tree."""

    backend: Literal["local", "s3"] = "local"
    root: Path | None = None  # local backend; default <data_dir>/storage
    fsync: bool = True  # local backend: bytes reach the disk before their row commits
    # ETags of bytes on local disk (objects of the local backend, S3-protocol multipart parts),
    # as storage-api's STORAGE_FILE_ETAG_ALGORITHM: `md5` of the bytes, or `mtime`:
    # `"<mtime in ms, hex>-<size, hex>"`, no hash computed (the S3 backend always uses MD5)
    etag_algorithm: Literal["md5", "mtime"] = "md5"
    file_size_limit: int = Field(50 * MIB, ge=1)  # global cap, like FILE_SIZE_LIMIT
    signed_upload_url_expires: int = Field(7200, ge=1)  # seconds
    max_signed_url_expires: int = Field(10 * 365 * 24 * 3600, ge=1)
    image_max_bytes: int = Field(25 * MIB, ge=1)  # largest image /render/image transforms
    resumable_dir: Path | None = None  # TUS uploads in progress; default <data_dir>/storage-tus
    resumable_expires: int = Field(24 * 3600, ge=60)  # seconds an unfinished TUS upload lives
    sweep_on_start: bool = True  # remove bytes no metadata row points at
    sweep_grace_seconds: float = Field(900.0, ge=0)  # leave younger bytes (uploads in flight)
    s3: S3Settings = S3Settings()
    s3_protocol: S3ProtocolSettings = S3ProtocolSettings()
