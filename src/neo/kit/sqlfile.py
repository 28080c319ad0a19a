"""Named queries: parse a `.sql` file of `-- name: foo` blocks into a mapping, once.

The format follows aiosql/procrastinate: each query starts with a `-- name: <identifier>`
line; the text up to the next such line (comments included) is the query.
"""

from __future__ import annotations

import re
from pathlib import Path

_NAME = re.compile(r"^--\s*name:\s*([A-Za-z_][A-Za-z0-9_]*)\s*$", re.MULTILINE)


def parse_named_queries(text: str) -> dict[str, str]:
    """Split `text` into {name: sql}; duplicate names are an error."""
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"duplicate query name {name!r}")
        queries[name] = body.strip()
    return queries


def load_named_queries(path: Path) -> dict[str, str]:
    """Read and parse a named-queries file."""
    return parse_named_queries(path.read_text(encoding="utf-8"))
