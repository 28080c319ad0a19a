"""The real app for tests: in-process through httpx's ASGI transport, or a real uvicorn on a
free loopback port (for the official clients, websockets and streaming)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from neo.app import create_app
from neo.core.http_sendfile import SendfileProtocol
from neo.kit.net import free_port
from neo.settings import Settings


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app with its lifespan entered (pools open, migrations applied)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def asgi_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client calling the app in-process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://neo.test") as client:
        yield client


@contextmanager
def live_server(settings: Settings) -> Iterator[str]:
    """Serve `settings` with uvicorn on a free loopback port in a thread; yield its URL."""
    port = free_port()
    settings = settings.model_copy(
        update={"api": settings.api.model_copy(update={"port": port, "host": "127.0.0.1"})}
    )
    with serve_asgi(create_app(settings), port=port) as url:
        yield url


@contextmanager
def serve_asgi(app: Any, *, port: int | None = None, lifespan: str = "on") -> Iterator[str]:
    """Serve an ASGI app with uvicorn (the protocol `neo start` serves with) on a loopback
    port in a thread; yield its URL."""
    port = port or free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        lifespan=lifespan,  # type: ignore[arg-type]
        http=SendfileProtocol,  # as `neo start` serves
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
