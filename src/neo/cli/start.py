"""`neo start`: the embedded PostgreSQL (unless DATABASE_URL is set), migrations, keys, and
the API server in one process tree that Ctrl-C stops cleanly.

With `--workers N` uvicorn runs N API processes; they receive the resolved settings through
`NEO_*` variables and share the one embedded server.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import multiprocessing
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI
from rich.console import Console

from neo.app import app_from_env, create_app
from neo.cli.database import embedded_server
from neo.cli.summary import print_summary
from neo.core.http_sendfile import SendfileProtocol
from neo.core.keys import KeyRing, load_keyring
from neo.core.migrations import MigrationSource
from neo.core.postgres import EmbeddedPostgres
from neo.core.runtime import prepare_database, public_url
from neo.kit.net import port_is_free
from neo.settings import Settings

_PR_SET_PDEATHSIG = 1


class StartError(RuntimeError):
    """`neo start` cannot go on; carries the exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


async def _prepare(url: str, settings: Settings, sources: list[MigrationSource]) -> KeyRing:
    conn = await asyncpg.connect(url)
    try:
        await prepare_database(conn, sources)
        core = settings.core()
        return await load_keyring(conn, core.keys, public_url=public_url(core))
    finally:
        await conn.close()


def _worker_env(settings: Settings, db_url: str) -> None:
    """Hand the resolved settings to worker processes through the environment."""
    core = settings.core()
    os.environ.update(
        {
            "NEO_DATA_DIR": str(core.data_dir),
            "NEO_API__HOST": core.api.host,
            "NEO_API__PORT": str(core.api.port),
            "NEO_API__WORKERS": str(core.api.workers),
            "NEO_DB__URL": db_url,
        }
    )


def _state_file(settings: Settings) -> Path:
    return settings.core().data_dir / "run" / "neo.json"


def run(settings: Settings, sources: list[MigrationSource], console: Console) -> None:
    """Start everything and serve until interrupted."""
    core = settings.core()
    # SIGTERM stops like Ctrl-C, so the `finally` below always stops PostgreSQL.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if not port_is_free(core.api.host, core.api.port):
        raise StartError(
            f"port {core.api.host}:{core.api.port} is in use; choose another with --port "
            "or NEO_API__PORT.",
            exit_code=3,
        )
    server: EmbeddedPostgres | None = None
    if core.db.url is None:
        server = embedded_server(core)
        server.ensure_initialized()
        server.start(timeout=core.db.start_timeout)
        db_url, shown_url = server.socket_url(), server.tcp_url()
    else:
        db_url = shown_url = core.db.url.get_secret_value()
    try:
        keys = asyncio.run(_prepare(db_url, settings, sources))
        settings = settings.model_copy(update={"db": core.db.model_copy(update={"url": db_url})})
        _serve(settings, db_url=db_url, shown_url=shown_url, keys=keys, console=console)
    finally:
        _state_file(settings).unlink(missing_ok=True)
        if server is not None:
            server.stop()


def _serve(
    settings: Settings, *, db_url: str, shown_url: str, keys: KeyRing, console: Console
) -> None:
    core = settings.core()
    api_url = public_url(core)
    state = _state_file(settings)
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps({"pid": os.getpid(), "api_url": api_url}))
    print_summary(
        console,
        api_url=api_url,
        db_url=shown_url,
        keys=keys,
        workers=core.api.workers,
        data_dir=str(core.data_dir),
    )
    common: dict[str, Any] = {
        "host": core.api.host,
        "port": core.api.port,
        "log_config": None,
        "access_log": False,
        "http": SendfileProtocol,  # zero-copy file responses (storage downloads)
    }
    if core.api.workers > 1:
        _worker_env(settings, db_url)
        uvicorn.run("neo.cli.start:worker_app", factory=True, workers=core.api.workers, **common)
        return
    config = uvicorn.Config(create_app(settings), lifespan="on", **common)
    _Server(config).run()  # on uvloop when installed, as `uvicorn.run` would


def worker_app() -> FastAPI:
    """The app of one `--workers` process, stopped (SIGTERM) when `neo start` dies.

    uvicorn's workers would otherwise outlive a killed `neo start` and keep the port.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    parent = multiprocessing.parent_process()
    if parent is not None and parent.pid != os.getppid():
        os.kill(os.getpid(), signal.SIGTERM)  # the parent died before prctl took effect
    return app_from_env()


class _Server(uvicorn.Server):
    """uvicorn's server, minus re-raising the signal after shutdown: `neo start` handles the
    stop itself (PostgreSQL last) and a re-raised Ctrl-C would interrupt the lifespan."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
