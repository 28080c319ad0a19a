"""The `/storage/v1` router: bucket, signed-URL, object, render, resumable-upload and S3
protocol routes, in matching order."""

from __future__ import annotations

from fastapi import APIRouter

from neo.storage.router_bucket import router as bucket_router
from neo.storage.router_object import router as object_router
from neo.storage.router_render import router as render_router
from neo.storage.router_resumable import router as resumable_router
from neo.storage.router_s3 import router as s3_router
from neo.storage.router_signed import router as signed_router

PREFIX = "/storage/v1"
router = APIRouter(prefix=PREFIX, tags=["storage"])
router.include_router(bucket_router)
router.include_router(signed_router)  # before /object/{bucket}/{path}, which would shadow it
router.include_router(object_router)
router.include_router(render_router)
router.include_router(resumable_router)
router.include_router(s3_router)


@router.get("/status")
async def status() -> dict[str, str]:
    """Health document (storage-api serves `/status`)."""
    return {"status": "ok"}
