"""Table-driven tests of request bodies: JSON as sent, CSV and forms turned into JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from neo.data.bodies import CSV, FORM, parse_body
from neo.data.errors import ApiError

JSON = "application/json"


@pytest.mark.parametrize(
    ("raw", "content_type", "doc"),
    [
        (b'{"a": 1}', JSON, {"a": 1}),
        (b"[1, 2]", JSON, [1, 2]),
        (b"a,b\n1,2\n3,4\n", CSV, [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]),
        (b"a,b\r\n1,2\r\n", CSV, [{"a": "1", "b": "2"}]),
        (b"a,b\n,NULL\n", CSV, [{"a": "", "b": None}]),
        (b'a,b\n"NULL","x ""y"""\n', CSV, [{"a": None, "b": 'x "y"'}]),
        (b"a,b\n", CSV, []),
        (b"a,b\n\n1,2\n\n", CSV, [{"a": "1", "b": "2"}]),
        (b"a=1&b=two+words&c=", FORM, {"a": "1", "b": "two words", "c": ""}),
        (b"a=%C3%A9", FORM, {"a": "é"}),
        (b"", FORM, {}),
    ],
)
def test_bodies_parse(raw: bytes, content_type: str, doc: Any) -> None:
    body = parse_body(raw, content_type)
    assert body.doc == doc
    assert json.loads(body.text) == doc


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b"", JSON),
        (b"  ", JSON),
        (b"{", JSON),
        (b"\xff", JSON),
        (b"", CSV),
        (b"a,b\n1\n", CSV),
        (b"a,b\n1,2,3\n", CSV),
        (b"\xff\xfe", CSV),
        (b"\xff", FORM),
    ],
)
def test_bad_bodies_are_pgrst102(raw: bytes, content_type: str) -> None:
    with pytest.raises(ApiError) as err:
        parse_body(raw, content_type)
    assert (err.value.status, err.value.code) == (400, "PGRST102")
