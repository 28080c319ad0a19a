"""Identifier checks."""

from __future__ import annotations

import re

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_uuid(value: str | None) -> bool:
    """True for a UUID in its canonical text form (8-4-4-4-12 hex digits, either case): the
    form the ids minted here take, and one PostgreSQL's `uuid` input always accepts (Python's
    `uuid.UUID` also takes braces, `urn:uuid:` and no hyphens)."""
    return value is not None and _UUID.fullmatch(value) is not None
