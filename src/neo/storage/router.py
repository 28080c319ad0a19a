"""The `/storage/v1` router: bucket, signed-URL, object, render, resumable-upload and S3
protocol routes, in matching order.

Object downloads and uploads are plain Starlette routes the app's `Edge` layer serves before
FastAPI (`router_object.FAST`, storage's capability is `fast`). That lane tries them first,
so each catch-all (`/object/{bucket}/{key}`) is compiled to refuse exactly the paths a route
registered before it serves for the same method (`/object/info/…`, `/object/sign/…`, …):
whichever way a request is routed, it reaches the handler FastAPI's order would pick.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from fastapi import APIRouter
from starlette.routing import Route

from neo.storage.router_bucket import router as bucket_router
from neo.storage.router_object import FAST
from neo.storage.router_object import router as object_router
from neo.storage.router_render import router as render_router
from neo.storage.router_resumable import router as resumable_router
from neo.storage.router_s3 import router as s3_router
from neo.storage.router_signed import router as signed_router

PREFIX = "/storage/v1"
router = APIRouter(prefix=PREFIX, tags=["storage"])
_PARTS = [bucket_router, signed_router, object_router, render_router, resumable_router, s3_router]
for _part in _PARTS:
    router.include_router(_part)  # signed before object: /object/{bucket}/{path} would shadow it


@router.get("/status")
async def status() -> dict[str, str]:
    """Health document (storage-api serves `/status`)."""
    return {"status": "ok"}


_NAMED_GROUP = re.compile(r"\(\?P<[^>]+>")


def _refuse(route: Route, methods: set[str], before: Sequence[tuple[Route, set[str]]]) -> None:
    """Recompile `route` (a path under PREFIX) to match no path that one of `before` (routes
    with paths relative to PREFIX, and the methods they serve) serves for one of `methods`."""
    static = route.path.removeprefix(PREFIX).split("{", 1)[0]
    taken = [
        _NAMED_GROUP.sub("(?:", r.path_regex.pattern.removeprefix("^").removesuffix("$"))
        for r, served in before
        if methods & served and _overlap(static, r.path.split("{", 1)[0])
    ]
    if taken:
        refused = "|".join(f"{re.escape(PREFIX)}{pattern}" for pattern in taken)
        route.path_regex = re.compile(f"^(?!(?:{refused})$){route.path_regex.pattern[1:]}")


def _overlap(static: str, other: str) -> bool:
    """Whether paths with these literal beginnings can be the same path."""
    return static.startswith(other) or other.startswith(static)


def _add_fast_routes() -> None:
    earlier = [
        (r, r.methods or set()) for part in _PARTS for r in part.routes if isinstance(r, Route)
    ]
    for path, endpoint, methods in FAST:
        router.add_route(PREFIX + path, endpoint, methods=methods)  # the full path: see data
        route = router.routes[-1]
        assert isinstance(route, Route)
        _refuse(route, set(methods), earlier)
        earlier.append((Route(path, endpoint), set(methods)))


_add_fast_routes()
