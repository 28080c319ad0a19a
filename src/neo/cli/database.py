"""How CLI commands reach the database: external URL, the running NEO's embedded server, or
the embedded server started just for the command (and stopped after)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from neo.core.postgres import EmbeddedPostgres
from neo.core.settings import CoreSettings


def embedded_server(settings: CoreSettings) -> EmbeddedPostgres:
    """The embedded server object for the configured data dir."""
    password = settings.db.password.get_secret_value() if settings.db.password else None
    return EmbeddedPostgres(
        settings.data_dir, host=settings.db.host, port=settings.db.port, password=password
    )


@contextmanager
def owner_url(settings: CoreSettings) -> Iterator[str]:
    """An owner connection URL for the duration of a command."""
    if settings.db.url is not None:
        yield settings.db.url.get_secret_value()
        return
    server = embedded_server(settings)
    if server.running_pid() is not None:
        yield server.socket_url()  # a running `neo start` owns it
        return
    server.ensure_initialized()
    server.start(timeout=settings.db.start_timeout)
    try:
        yield server.socket_url()
    finally:
        server.stop()
