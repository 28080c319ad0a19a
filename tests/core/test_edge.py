"""The app's front layer (`Edge`): request ids, CORS, fast routes, metrics and access log in
one ASGI layer, answering as the stacked middlewares it replaces did."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence

import httpx
import pytest
import structlog
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from neo.app import NeoApp
from neo.core.errors import NeoError
from neo.core.logging import configure_logging
from neo.core.metrics import Metrics
from neo.core.middleware import Edge, FastRoutes, RequestIds
from neo.core.settings import LogSettings

ORIGINS = ["http://app.example", "http://other.example"]
EXPOSE = ["x-request-id", "content-range"]


async def hot(request: Request) -> Response:
    return PlainTextResponse(f"fast {request.path_params['name']}")


async def varied(request: Request) -> Response:
    return PlainTextResponse("varied", headers={"vary": "Accept"})


async def refused(request: Request) -> Response:
    raise NeoError("nope", status=409, code="conflict")


async def broken(request: Request) -> Response:
    raise RuntimeError("internal detail")


async def broken_midway(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"first"
        raise RuntimeError("after the start")

    return StreamingResponse(chunks())


async def slow(request: Request) -> Response:
    return PlainTextResponse("slow path")


def render(exc: Exception, request: Request) -> Response:
    if isinstance(exc, NeoError):
        return JSONResponse({"code": exc.code}, status_code=exc.status)
    return JSONResponse({"code": "unexpected"}, status_code=500)


FAST: Sequence[BaseRoute] = [
    Route("/hot/refused", refused, methods=["GET"]),
    Route("/hot/broken", broken, methods=["GET"]),
    Route("/hot/midway", broken_midway, methods=["GET"]),
    Route("/hot/varied", varied, methods=["GET"]),
    Route("/hot/{name}", hot, methods=["GET"]),
]


def inner_app() -> Starlette:
    return Starlette(routes=[Route("/hot/", slow), Route("/cold/{name}", slow), *FAST])


def policy(app: Starlette, origins: list[str]) -> CORSMiddleware:
    return CORSMiddleware(
        app,
        allow_origins=origins,
        allow_methods=["*"],
        allow_headers=["apikey", "authorization", "content-type"],
        expose_headers=EXPOSE,
        max_age=86400,
    )


def edge(origins: list[str] = ORIGINS, *, access_log: bool = False) -> tuple[Edge, Metrics]:
    app = inner_app()
    metrics = Metrics()
    front = Edge(
        app,
        metrics=metrics,
        cors=policy(app, origins),
        routes=FAST,
        render=render,
        access_log=access_log,
    )
    return front, metrics


def client(app: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def test_request_ids_are_assigned_kept_or_replaced() -> None:
    front, _ = edge()
    async with client(front) as c:
        first, second = (await c.get("/hot/a")).headers, (await c.get("/hot/a")).headers
        kept = await c.get("/hot/a", headers={"x-request-id": "req-42.a:b"})
        bad = await c.get("/hot/a", headers={"x-request-id": "no spaces allowed"})
    assert re.fullmatch(r"[0-9a-f]{32}", first["x-request-id"])
    assert first["x-request-id"] != second["x-request-id"]
    assert kept.headers["x-request-id"] == "req-42.a:b"
    assert re.fullmatch(r"[0-9a-f]{32}", bad.headers["x-request-id"])


def test_request_ids_differ_between_processes_and_stay_32_hex_digits() -> None:
    one, other = RequestIds(), RequestIds()
    assert one.prefix != other.prefix
    one.counter = iter([2**64 + 5])  # type: ignore[assignment]  # wraps, keeps its width
    assert one.next() == one.prefix + "0000000000000005"


async def test_fast_routes_are_served_and_their_errors_rendered() -> None:
    front, _ = edge()
    async with client(front) as c:
        assert (await c.get("/hot/abc")).text == "fast abc"
        assert (await c.get("/hot/")).text == "slow path"  # no fast route matches fully
        assert (await c.post("/hot/abc")).status_code == 405  # the app answers other methods
        conflict = await c.get("/hot/refused")
        failure = await c.get("/hot/broken")
    assert (conflict.status_code, conflict.json()) == (409, {"code": "conflict"})
    assert conflict.headers["x-request-id"]
    assert (failure.status_code, failure.json()) == (500, {"code": "unexpected"})
    assert "internal detail" not in failure.text


async def test_plain_async_endpoints_are_called_directly_others_through_their_route() -> None:
    class Shout:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            async def loud(message: Message) -> None:
                if message["type"] == "http.response.body":
                    message = {**message, "body": message["body"].upper()}
                await send(message)

            await self.app(scope, receive, loud)

    def sync_endpoint(request: Request) -> Response:
        return PlainTextResponse("sync")

    wrapped = Route("/w/{name}", hot, methods=["GET"], middleware=[Middleware(Shout)])
    limited = Route("/l/{name}", hot, methods=["GET"], max_body_size=10)
    threaded = Route("/s", sync_endpoint, methods=["GET"])
    routes = [*FAST, wrapped, limited, threaded]
    fast = FastRoutes(routes)
    assert set(fast.endpoints) == {id(r) for r in FAST}
    app = inner_app()
    front = Edge(app, metrics=Metrics(), cors=policy(app, ORIGINS), routes=routes, render=render)
    async with client(front) as c:
        assert (await c.get("/w/abc")).text == "FAST ABC"  # its middleware still runs
        assert (await c.get("/l/abc")).text == "fast abc"
        assert (await c.get("/s")).text == "sync"


async def test_an_error_after_the_response_started_is_raised_not_rendered() -> None:
    front, metrics = edge()
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/hot/midway",
        "raw_path": b"/hot/midway",
        "query_string": b"",
        "headers": [],
    }
    sent: list[dict[str, object]] = []

    bodies = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, object]:
        if bodies:
            return bodies.pop()
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError("unreachable")

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    with pytest.raises(RuntimeError, match="after the start"):
        await front(scope, receive, send)  # type: ignore[arg-type]
    assert [m["type"] for m in sent][:1] == ["http.response.start"]
    assert sent[0]["status"] == 200
    assert metrics.requests.labels("GET", "/hot/midway", "200")._value.get() == 1


async def test_metrics_are_labelled_by_route_template() -> None:
    front, metrics = edge()
    async with client(front) as c:
        for name in ("a", "b", "c"):
            await c.get(f"/hot/{name}")
        await c.get("/hot/refused")
        await c.get("/nowhere")
    exposition = metrics.render().decode()
    assert 'neo_http_requests_total{method="GET",route="/hot/{name}",status="200"} 3.0' in (
        exposition
    )
    assert 'route="/hot/refused",status="409"} 1.0' in exposition
    assert 'route="unmatched",status="404"} 1.0' in exposition
    count = 'neo_http_request_duration_seconds_count{method="GET",route="/hot/{name}"} 3.0'
    assert count in exposition


@pytest.fixture
def configured_logging(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[str], None]]:
    """NEO's logging set-up at a given level, writing to the captured stderr; the previous
    set-up restored afterwards."""
    root = logging.getLogger()
    handlers, level, config = root.handlers[:], root.level, structlog.get_config()

    def configure(at: str) -> None:
        configure_logging(LogSettings(level=at, format="json"))  # type: ignore[arg-type]

    yield configure
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**config)


async def test_access_log_line_has_its_fields(
    configured_logging: Callable[[str], None], capsys: pytest.CaptureFixture[str]
) -> None:
    configured_logging("info")
    front, _ = edge(access_log=True)
    async with client(front) as c:
        response = await c.get("/hot/x?token=abc", headers={"x-request-id": "log-1"})
    assert response.status_code == 200
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    served = [line for line in lines if line["event"] == "http.request_served"]
    assert len(served) == 1
    assert served[0]["method"] == "GET"
    assert served[0]["path"] == "/hot/x"  # the path only: no query string (tokens)
    assert served[0]["status"] == 200
    assert served[0]["request_id"] == "log-1"
    assert served[0]["level"] == "info"
    assert isinstance(served[0]["ms"], float)


@pytest.mark.parametrize(("level", "access_log"), [("warning", True), ("info", False)])
async def test_no_access_log_when_off_or_below_info(
    configured_logging: Callable[[str], None],
    capsys: pytest.CaptureFixture[str],
    level: str,
    access_log: bool,
) -> None:
    configured_logging(level)
    front, _ = edge(access_log=access_log)
    async with client(front) as c:
        assert (await c.get("/hot/x")).status_code == 200
    assert "http.request_served" not in capsys.readouterr().err


# What the replaced stack answered: Starlette's CORS middleware around the same app.
CASES: list[tuple[str, str, dict[str, str]]] = [
    ("GET", "/hot/a", {}),
    ("GET", "/hot/varied", {}),
    ("GET", "/hot/a", {"origin": "http://app.example"}),
    ("GET", "/hot/varied", {"origin": "http://app.example"}),
    ("GET", "/hot/a", {"origin": "http://evil.example"}),
    ("GET", "/cold/x", {"origin": "http://other.example"}),
    ("GET", "/nowhere", {"origin": "http://app.example"}),
    ("GET", "/hot/refused", {"origin": "http://app.example"}),
    ("OPTIONS", "/hot/a", {"origin": "http://app.example"}),  # not a preflight
    ("OPTIONS", "/hot/a", {"access-control-request-method": "GET"}),  # no origin
    (
        "OPTIONS",
        "/hot/a",
        {
            "origin": "http://app.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "apikey, authorization",
        },
    ),
    (
        "OPTIONS",
        "/anything",
        {"origin": "http://evil.example", "access-control-request-method": "GET"},
    ),
    (
        "OPTIONS",
        "/hot/a",
        {
            "origin": "http://app.example",
            "access-control-request-method": "GET",
            "access-control-request-headers": "x-not-allowed",
        },
    ),
]


class _OldStack:
    """The composition `Edge` replaced, minus request ids: CORS, then the app (fast routes
    answered by the app's own router here, with the same renderer)."""

    def __init__(self, origins: list[str]) -> None:
        app = inner_app()
        app.add_exception_handler(NeoError, self._handle)
        app.add_exception_handler(RuntimeError, self._handle)
        self.app = policy(app, origins)

    async def _handle(self, request: Request, exc: Exception) -> Response:
        return render(exc, request)

    async def __call__(self, scope: object, receive: object, send: object) -> None:
        await self.app(scope, receive, send)  # type: ignore[arg-type]


@pytest.mark.parametrize("origins", [ORIGINS, ["*"]])
@pytest.mark.parametrize(("method", "path", "headers"), CASES)
async def test_cors_answers_as_starlettes_middleware_did(
    origins: list[str], method: str, path: str, headers: dict[str, str]
) -> None:
    front, _ = edge(origins)
    async with client(front) as new, client(_OldStack(origins)) as old:
        got = await new.request(method, path, headers=headers)
        want = await old.request(method, path, headers=headers)
    assert got.status_code == want.status_code
    assert got.content == want.content
    got_headers = sorted((k, v) for k, v in got.headers.multi_items() if k != "x-request-id")
    assert got_headers == sorted(want.headers.multi_items())
    assert got.headers["x-request-id"]
    assert got.headers.get_list("vary") == want.headers.get_list("vary")


async def test_preflights_are_answered_before_any_route() -> None:
    front, metrics = edge()
    async with client(front) as c:
        response = await c.options(
            "/hot/refused",
            headers={"origin": "http://app.example", "access-control-request-method": "GET"},
        )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://app.example"
    assert "access-control-expose-headers" not in response.headers  # not on preflights
    assert 'route="unmatched",status="200"} 1.0' in metrics.render().decode()


async def test_the_whole_app_has_edge_in_front(client: httpx.AsyncClient) -> None:
    """The real app: a data route is served by the fast lane with CORS headers, request id
    and its route template in /metrics; a framework route gets the same treatment."""
    data = await client.get("/rest/v1/no_such_table", headers={"origin": "http://app.example"})
    health = await client.get("/health")
    assert data.status_code == 404
    assert data.json()["code"] == "PGRST205"  # rendered in the data API's shape
    assert data.headers["access-control-allow-origin"] == "*"
    assert "x-request-id" in data.headers["access-control-expose-headers"].lower()
    assert health.headers["vary"] == "Origin"
    assert data.headers["x-request-id"] != health.headers["x-request-id"]
    exposition = (await client.get("/metrics")).text
    assert 'route="/rest/v1/{name}",status="404"' in exposition
    assert 'route="/health",status="200"' in exposition
    assert json.loads(health.text)["status"] == "ok"


async def test_errors_the_framework_renders_carry_request_id_and_cors(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A 500 rendered by FastAPI's outermost layer now passes through `Edge` too."""

    async def boom() -> None:
        raise RuntimeError("secret detail")

    app.add_api_route("/edge-test/boom", boom, methods=["GET"])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://neo.test") as raw:
        response = await raw.get("/edge-test/boom", headers={"origin": "http://app.example"})
    assert response.status_code == 500
    assert "secret detail" not in response.text
    assert response.headers["x-request-id"]
    assert response.headers["access-control-allow-origin"] == "*"
    exposition = (await client.get("/metrics")).text
    assert 'route="/edge-test/boom",status="500"} 1.0' in exposition


def test_the_data_and_token_routes_are_called_directly(app: FastAPI) -> None:
    assert isinstance(app, NeoApp)
    assert app.edge is not None
    fast = app.edge.fast
    direct = {getattr(r, "path", "") for r in fast.routes if id(r) in fast.endpoints}
    assert {"/rest/v1/{name}", "/rest/v1/rpc/{name}", "/auth/v1/token"} <= direct


async def test_remembered_matches_keep_method_and_path_params_per_request() -> None:
    async def take(request: Request) -> Response:
        return PlainTextResponse(request.path_params.pop("name"))

    routes = [Route("/m/{name}", take, methods=["GET"])]
    app = inner_app()
    front = Edge(app, metrics=Metrics(), cors=policy(app, ORIGINS), routes=routes, render=render)
    async with client(front) as c:
        assert [(await c.get("/m/a")).text for _ in range(3)] == ["a", "a", "a"]
        assert (await c.get("/m/b")).text == "b"
        assert (await c.post("/m/a")).status_code == 404  # no full match: the app answers
        assert (await c.get("/m/a")).text == "a"
