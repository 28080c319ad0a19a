"""What the fuzz tests (`tests/<cap>/test_fuzz*.py`) share: hypothesis strategies for text,
JSON values of any type and request bodies, and an HTTP client setting."""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import strategies as st

# Each example on its own connection: one that the server closes cannot fail the next.
FRESH = httpx.Limits(max_keepalive_connections=0)
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=16)


def json_values(specials: list[Any]) -> st.SearchStrategy[Any]:
    """Any JSON value (huge integers and non-finite floats included), nested a little, with
    the surface's own `specials` (names, roles, paths, tokens) among the scalars."""
    scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | TEXT
    if specials:
        scalars |= st.sampled_from(specials)
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
        max_leaves=5,
    )


def bodies(fields: list[str], specials: list[Any]) -> st.SearchStrategy[bytes]:
    """A request body: an object of the surface's `fields` with values of any type, any
    JSON value, or bytes that are not JSON at all."""
    values = json_values(specials)
    return st.one_of(
        st.dictionaries(st.sampled_from(fields), values, max_size=5).map(json.dumps),
        values.map(json.dumps),
    ).map(str.encode) | st.binary(max_size=24)
