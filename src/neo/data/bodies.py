"""Request bodies of writes and calls: JSON as sent, or CSV and form-urlencoded documents
turned into the JSON PostgREST would have read from them.

CSV (`text/csv`, inserts): the first line names the columns, each further line is a row; an
empty field is an empty string and the bare word `NULL` is SQL NULL. A form
(`application/x-www-form-urlencoded`) is one object of string values. Errors are PGRST102.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from neo.data.errors import ApiError

CSV = "text/csv"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Body:
    """A parsed body: the document, and its JSON text for SQL (`json_populate_recordset`…)."""

    doc: Any
    text: str


def parse_body(raw: bytes, content_type: str = "application/json") -> Body:
    """The body as a document, or PGRST102."""
    try:
        text = raw.decode()
        if content_type == CSV:
            doc: Any = _csv_rows(text)
            return Body(doc, json.dumps(doc))
        if content_type == FORM:
            doc = dict(parse_qsl(text, keep_blank_values=True))
            return Body(doc, json.dumps(doc))
        if not text.strip():
            raise ValueError("empty body")
        return Body(json.loads(text), text)
    except (ValueError, UnicodeDecodeError, csv.Error) as exc:
        raise ApiError("Empty or invalid json", code="PGRST102", details=str(exc)) from None


def _csv_rows(text: str) -> list[dict[str, str | None]]:
    lines = [row for row in csv.reader(io.StringIO(text)) if row]
    if not lines:
        raise ValueError("a CSV body needs a header line")
    header, rows = lines[0], lines[1:]
    if any(len(row) != len(header) for row in rows):
        raise ApiError("All lines must have same number of fields", code="PGRST102")
    return [
        {k: None if v == "NULL" else v for k, v in zip(header, row, strict=True)} for row in rows
    ]
