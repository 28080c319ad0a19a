"""`kit.ids.is_uuid`: only the canonical text form counts, the one PostgreSQL's `uuid` input
always takes (a subject Python's `uuid.UUID` accepts but PostgreSQL refuses would reach a
cast and fail there)."""

from __future__ import annotations

import uuid

import pytest

from neo.kit.ids import is_uuid

SOME = uuid.UUID("8d7f6c1e-3b0a-4b8e-9a51-2f4c1d9e7a60")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (str(SOME), True),
        (str(SOME).upper(), True),
        (SOME.hex, False),  # no hyphens
        (f"{{{SOME}}}", False),  # braces
        (f"urn:uuid:{SOME}", False),
        (f" {SOME}", False),
        (f"{SOME}\n", False),
        ("github|42", False),
        ("", False),
        (None, False),
    ],
)
def test_only_the_canonical_form_is_a_uuid(value: str | None, expected: bool) -> None:
    assert is_uuid(value) is expected
