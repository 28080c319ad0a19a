"""The fast lane (`Edge`): hot plain routes served before the framework's layers, with the same
results."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from neo.core.errors import NeoError
from neo.core.metrics import Metrics
from neo.core.middleware import Edge


async def ok(request: Request) -> Response:
    return PlainTextResponse(f"fast {request.path_params['name']}")


async def refused(request: Request) -> Response:
    raise NeoError("nope", status=409, code="conflict")


async def broken(request: Request) -> Response:
    raise RuntimeError("internal detail")


def render(exc: Exception, request: Request) -> Response:
    if isinstance(exc, NeoError):
        return JSONResponse({"code": exc.code}, status_code=exc.status)
    return JSONResponse({"code": "unexpected"}, status_code=500)


def make_app() -> Edge:
    async def slow(request: Request) -> Response:
        return PlainTextResponse("slow path")

    fast = [
        Route("/hot/refused", refused, methods=["GET"]),
        Route("/hot/broken", broken, methods=["GET"]),
        Route("/hot/{name}", ok, methods=["GET"]),
    ]
    app = Starlette(routes=[Route("/hot/", slow), Route("/hot/{name}", slow, methods=["POST"])])
    return Edge(app, metrics=Metrics(), cors=CORSMiddleware(app), routes=fast, render=render)


@pytest.fixture
async def client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


async def test_full_matches_are_served_by_the_fast_routes(client: httpx.AsyncClient) -> None:
    assert (await client.get("/hot/abc")).text == "fast abc"


async def test_anything_else_goes_on_to_the_app(client: httpx.AsyncClient) -> None:
    assert (await client.get("/hot/")).text == "slow path"
    assert (await client.post("/hot/abc")).text == "slow path"  # method not fast
    assert (await client.get("/cold")).status_code == 404


async def test_errors_are_rendered_like_the_apps_handlers(client: httpx.AsyncClient) -> None:
    refused_response = await client.get("/hot/refused")
    assert (refused_response.status_code, refused_response.json()) == (409, {"code": "conflict"})
    broken_response = await client.get("/hot/broken")
    assert broken_response.status_code == 500
    assert "internal detail" not in broken_response.text
