"""Redaction of secrets in log records: tokens, keys, passwords and URLs with credentials."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

SECRET_KEYS = re.compile(
    r"(pass(word)?|secret|token|apikey|api_key|authorization|cookie|jwt|private|credential)",
    re.IGNORECASE,
)
_URL_CREDENTIALS = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]*@", re.I
)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_OPAQUE_KEY = re.compile(r"\b(sb_(publishable|secret)_|neo_sk_)[A-Za-z0-9_-]+")
MASK = "[redacted]"


def redact_text(text: str) -> str:
    """Mask credentials embedded in free text (URLs with passwords, JWTs, opaque keys)."""
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _JWT.sub(MASK, text)
    return _OPAQUE_KEY.sub(lambda m: f"{m.group(1)}{MASK}", text)


def redact(value: Any, key: str = "") -> Any:
    """Return `value` with secrets masked, recursing into mappings and sequences."""
    if key and SECRET_KEYS.search(key) and value not in (None, ""):
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    return value
