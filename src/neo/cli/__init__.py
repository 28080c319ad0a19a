"""The `neo` command: start, migrate, status, keys, check.

This is a composition root: it builds the settings tree once from flags and environment and
hands it to each command. Errors a user can fix end with a message and an exit code, never a
traceback: 2 configuration, 3 port in use, 4 database/data dir, 1 anything else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from neo.app import CAPABILITIES
from neo.core.migrations import MigrationError
from neo.core.postgres import PostgresError
from neo.settings import ConfigError, Settings, load_settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="NEO backend.")
console = Console()
errors = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (NEO_DATA_DIR).")]


def _settings(data_dir: Path | None = None, **api: Any) -> Settings:
    overrides: dict[str, Any] = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    try:
        base = load_settings(**overrides)
        api_over = {k: v for k, v in api.items() if v is not None and k != "db_port"}
        db_over = {"port": api["db_port"]} if api.get("db_port") is not None else {}
        if api_over or db_over:
            base = load_settings(
                **overrides,
                api=base.api.model_dump() | api_over,
                db=base.db.model_dump() | db_over,
            )
        return base
    except ConfigError as exc:
        _fail(str(exc), 2)


def _fail(message: str, code: int) -> NoReturn:
    errors.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def _sources() -> list[Any]:
    return [cap.migrations for cap in CAPABILITIES if cap.migrations is not None]


def _guarded(action: Any) -> Any:
    try:
        return action()
    except ConfigError as exc:
        _fail(str(exc), 2)
    except (PostgresError, MigrationError) as exc:
        _fail(str(exc), 4)
    except OSError as exc:
        _fail(f"{exc.strerror or exc}: {exc.filename or ''}".strip(": "), 4)


@app.command()
def start(
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(help="API host (NEO_API__HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="API port (NEO_API__PORT).")] = None,
    db_port: Annotated[int | None, typer.Option(help="Embedded Postgres TCP port.")] = None,
    workers: Annotated[int | None, typer.Option(help="API processes.")] = None,
) -> None:
    """Start NEO: embedded PostgreSQL, migrations, keys and the API."""
    from neo.cli.start import StartError, run

    settings = _settings(data_dir, host=host, port=port, workers=workers, db_port=db_port)
    try:
        _guarded(lambda: run(settings, _sources(), console))
    except StartError as exc:
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        pass
    console.print("NEO stopped.")


@app.command()
def migrate(data_dir: DataDir = None) -> None:
    """Apply pending database migrations."""
    from neo.cli import ops

    settings = _settings(data_dir)
    _guarded(lambda: ops.migrate(settings, _sources(), console))


@app.command()
def status(data_dir: DataDir = None) -> None:
    """Show whether NEO and its database run."""
    from neo.cli import ops

    settings = _settings(data_dir)
    if not _guarded(lambda: ops.status(settings, _sources(), console)):
        raise typer.Exit(1)


@app.command()
def keys(
    data_dir: DataDir = None,
    rotate: Annotated[bool, typer.Option("--rotate", help="Stage a new signing key.")] = False,
    retire: Annotated[
        str | None, typer.Option("--retire", metavar="KID", help="Retire a verify-only key.")
    ] = None,
) -> None:
    """Show the API keys and signing keys (`--rotate` stages a new signing key, `--retire KID`
    stops a previous key from verifying now; previous keys also retire themselves once the
    tokens they signed have expired, unless NEO_KEYS__AUTO_RETIRE=false)."""
    from neo.cli import ops

    settings = _settings(data_dir)
    _guarded(lambda: ops.keys(settings, _sources(), console, rotate, retire))


@app.command()
def check(data_dir: DataDir = None) -> None:
    """Start-up checks: Postgres version, extensions, configuration, sandbox support."""
    from neo.cli import ops

    settings = _settings(data_dir)
    if not _guarded(lambda: ops.check(settings, console)):
        raise typer.Exit(1)


def main() -> None:
    """Entry point of the `neo` script."""
    app()


__all__ = ["Settings", "app", "main"]
