"""Secrets never reach logs: tokens, keys, passwords and credentials in URLs are masked."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from neo.core.logging import configure_logging
from neo.core.settings import LogSettings
from neo.kit.redact import MASK, redact, redact_text
from tests.conftest import DEMO_SERVICE_KEY


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("postgresql://postgres:hunter2@127.0.0.1:54322/postgres", "hunter2"),
        (f"Bearer {DEMO_SERVICE_KEY}", DEMO_SERVICE_KEY),
        ("key=sb_secret_abcdefghijklmnop", "abcdefghijklmnop"),
        ("neo_sk_0123456789abcdef", "0123456789abcdef"),
    ],
)
def test_redact_text_masks_credentials(text: str, leak: str) -> None:
    masked = redact_text(text)
    assert leak not in masked
    assert MASK in masked


def test_redact_masks_secret_named_fields_recursively() -> None:
    event = {"user": "ada", "password": "pw", "nested": {"api_key": "k", "items": [{"token": "t"}]}}
    assert redact(event) == {
        "user": "ada",
        "password": MASK,
        "nested": {"api_key": MASK, "items": [{"token": MASK}]},
    }


def test_log_lines_are_json_and_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging(LogSettings(format="json", level="info"))
    try:
        structlog.get_logger("t").info(
            "test.event_logged",
            authorization=f"Bearer {DEMO_SERVICE_KEY}",
            url="postgresql://u:pw@h/d",
        )
        logging.getLogger("uvicorn.error").info("connect to postgresql://u:pw2@h/d failed")
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers[:] = []
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["event"] == "test.event_logged"
    assert lines[0]["authorization"] == MASK
    assert "pw@" not in lines[0]["url"]
    assert "pw2" not in lines[1]["event"]
    assert DEMO_SERVICE_KEY not in stream.getvalue()
