"""The start-up summary `neo start` prints: where everything is and which keys to use.

Printed as aligned lines without wrapping, so keys can be copied whole from any terminal.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from neo.core.keys import KeyRing


def print_summary(
    console: Console, *, api_url: str, db_url: str, keys: KeyRing, workers: int, data_dir: str
) -> None:
    """Print URLs and keys."""
    rows = [
        ("API URL", api_url),
        ("Postgres URL", db_url),
        ("JWKS URL", f"{api_url}/auth/v1/.well-known/jwks.json"),
        ("anon key", keys.anon_key),
        ("service_role key", keys.service_key),
        ("publishable key", keys.publishable_key),
        ("secret key", keys.secret_key),
        ("workers", str(workers)),
        ("data dir", data_dir),
    ]
    console.print("[bold green]NEO is running[/]")
    for name, value in rows:
        console.print(f"  [bold cyan]{name:<17}[/] {escape(value)}", soft_wrap=True)
    console.print("Press Ctrl-C to stop.", style="dim")
