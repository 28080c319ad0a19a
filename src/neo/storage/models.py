"""Request bodies of storage-api's routes, as the official clients send them.

supabase-py sends `expiresIn` as a string and both clients may send extra keys; models
accept both and ignore what storage does not use.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    """Base: unknown keys ignored, as storage-api's JSON schemas allow."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class BucketIn(Body):
    """POST /bucket and PUT /bucket/{id}."""

    id: str | None = None
    name: str | None = None
    public: bool | None = None
    file_size_limit: int | str | None = None
    allowed_mime_types: list[str] | None = None
    type: str | None = None


class SortBy(Body):
    """`sortBy` of the list bodies."""

    column: str = "name"
    order: str = "asc"


class ListIn(Body):
    """POST /object/list/{bucket}."""

    prefix: str = ""
    limit: int = Field(100, ge=1, le=10000)
    offset: int = Field(0, ge=0)
    sortBy: SortBy = SortBy()
    search: str = ""


class ListV2In(Body):
    """POST /object/list-v2/{bucket}."""

    prefix: str = ""
    limit: int = Field(1000, ge=1, le=1000)
    cursor: str | None = None
    with_delimiter: bool = False
    sortBy: SortBy | None = None


class MoveIn(Body):
    """POST /object/move and /object/copy."""

    bucketId: str
    sourceKey: str
    destinationKey: str
    destinationBucket: str | None = None
    copyMetadata: bool = True
    metadata: dict[str, Any] | None = None


class RemoveIn(Body):
    """DELETE /object/{bucket}."""

    prefixes: list[str] = Field(min_length=1, max_length=1000)


class SignIn(Body):
    """POST /object/sign/{bucket}/{path}."""

    expiresIn: int = Field(ge=1)
    download: bool | str | None = None
    transform: dict[str, Any] | None = None


class SignManyIn(SignIn):
    """POST /object/sign/{bucket}."""

    paths: list[str] = Field(min_length=1, max_length=1000)
