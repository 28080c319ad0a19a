"""WebSocket sessions through the app's front layer (`Edge`): the handshake's answer carries
the request id, sessions are counted by route and handshake status (outside the latency
histogram), and the access log has a line per session."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from neo.core.metrics import Metrics
from neo.core.middleware import Edge
from tests.core.test_edge import configured_logging, policy  # noqa: F401 (fixture)
from tests.support.servers import serve_asgi


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    text = await websocket.receive_text()
    await websocket.send_text(
        f"{websocket.path_params['name']}:{text}:{websocket.state.request_id}"
    )
    await websocket.close()


async def refuse(websocket: WebSocket) -> None:
    await websocket.close(code=1008)


async def deny(websocket: WebSocket) -> None:
    await websocket.send_denial_response(JSONResponse({"code": "conflict"}, status_code=409))


def front(*, access_log: bool = False) -> tuple[Edge, Metrics]:
    routes = [
        WebSocketRoute("/ws/echo/{name}", echo),
        WebSocketRoute("/ws/refuse", refuse),
        WebSocketRoute("/ws/deny", deny),
    ]
    app = Starlette(routes=routes)
    metrics = Metrics()
    edge = Edge(app, metrics=metrics, cors=policy(app, []), access_log=access_log)
    return edge, metrics


async def session(url: str, path: str, headers: dict[str, str] | None = None) -> str:
    """Open a session, say "x", read the answer; the request id the handshake answered with."""
    async with connect(url.replace("http", "ws") + path, additional_headers=headers) as ws:
        await ws.send("x")
        await ws.recv()
        assert ws.response is not None
        return str(ws.response.headers["x-request-id"])


async def test_the_handshake_answer_carries_the_request_id() -> None:
    edge, _ = front()
    with serve_asgi(edge, lifespan="off") as url:
        base = url.replace("http", "ws")
        async with connect(f"{base}/ws/echo/a", additional_headers={"x-request-id": "t-1"}) as ws:
            assert ws.response is not None
            assert ws.response.headers["x-request-id"] == "t-1"
            await ws.send("hi")
            assert await ws.recv() == "a:hi:t-1"  # the handler sees the same id
        assigned = await session(url, "/ws/echo/b", {"x-request-id": "bad id!"})
        assert assigned != "bad id!"
        assert len(assigned) == 32
        with pytest.raises(InvalidStatus) as denied:
            await session(url, "/ws/deny")
        assert denied.value.response.status_code == 409
        assert len(denied.value.response.headers["x-request-id"]) == 32


async def test_sessions_are_counted_by_route_and_handshake_status() -> None:
    edge, metrics = front()
    with serve_asgi(edge, lifespan="off") as url:
        for name in ("a", "b"):
            await session(url, f"/ws/echo/{name}")
        with pytest.raises((InvalidStatus, ConnectionClosed)):
            await session(url, "/ws/refuse")
        with pytest.raises(InvalidStatus):
            await session(url, "/ws/deny")
    exposition = metrics.render().decode()
    counted = 'neo_http_requests_total{method="WEBSOCKET",route="/ws/echo/{name}",status="101"}'
    assert f"{counted} 2.0" in exposition
    assert 'method="WEBSOCKET",route="/ws/refuse",status="403"} 1.0' in exposition
    assert 'method="WEBSOCKET",route="/ws/deny",status="409"} 1.0' in exposition
    assert 'duration_seconds_count{method="WEBSOCKET"' not in exposition  # sessions, not latency


async def test_each_session_has_an_access_log_line(
    configured_logging: Callable[[str], None],  # noqa: F811 (fixture)
    capsys: pytest.CaptureFixture[str],
) -> None:
    configured_logging("info")
    edge, _ = front(access_log=True)
    with serve_asgi(edge, lifespan="off") as url:
        await session(url, "/ws/echo/a", {"x-request-id": "t-2"})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if "{" in line]
    served = [entry for entry in lines if entry.get("event") == "http.request_served"]
    assert len(served) == 1
    assert served[0]["method"] == "WEBSOCKET"
    assert served[0]["status"] == 101
    assert served[0]["path"] == "/ws/echo/a"
    assert served[0]["request_id"] == "t-2"
