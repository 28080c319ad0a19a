"""How CLI commands reach the database: external URL, the running NEO's embedded server, or
the embedded server started just for the command (and stopped after)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from neo.core.postgres import EmbeddedPostgres
from neo.core.settings import CoreSettings


def embedded_server(settings: CoreSettings, *, port: int | None = None) -> EmbeddedPostgres:
    """The embedded server object for the configured data dir (on `port` if given)."""
    password = settings.db.password.get_secret_value() if settings.db.password else None
    return EmbeddedPostgres(
        settings.data_dir, host=settings.db.host, port=port or settings.db.port, password=password
    )


def running_port(server: EmbeddedPostgres) -> int | None:
    """The port a live postmaster on the data dir listens on, from its `postmaster.pid`."""
    try:
        # Lines: pid, data dir, start time, port, socket dir, listen address, shm key, status.
        return int((server.layout.pgdata / "postmaster.pid").read_text().splitlines()[3])
    except (OSError, ValueError, IndexError):
        return None


@contextmanager
def owner_url(settings: CoreSettings) -> Iterator[str]:
    """An owner connection URL for the duration of a command."""
    if settings.db.url is not None:
        yield settings.db.url.get_secret_value()
        return
    server = embedded_server(settings)
    if server.running_pid() is not None:
        # A running `neo start` owns it, maybe on another port (`--db-port`): the socket's
        # name carries the port, so use the one the server reports.
        yield embedded_server(settings, port=running_port(server)).socket_url()
        return
    server.ensure_initialized()
    server.start(timeout=settings.db.start_timeout)
    try:
        yield server.socket_url()
    finally:
        server.stop()
