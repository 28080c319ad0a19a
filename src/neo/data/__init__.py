"""Data: the PostgREST-compatible Data API under `/rest/v1` (PostgREST v14 grammar and errors).

Pipeline as in PostgREST: `request.py` (+ `grammar.py`, `nodes.py`) parses the URL and headers,
`schema_cache.py` knows the exposed schemas (reloaded on DDL through the `pgrst` channel,
`state.py`; `views.py` follows view columns to their tables), `plan.py`/`relations.py`/
`actions.py` (+ `bodies.py`: JSON, CSV and form bodies) check the request against it,
`query.py` builds the one SQL statement from `fragments.py` (the only dynamic SQL),
`service.py` runs it in one transaction as the caller and `response.py` shapes headers and
status (including the `response.*` settings). Errors are PostgREST's bodies
(`errors.render_postgrest_error`). Owns schema `neo_data` (the reload event trigger).
"""

from pathlib import Path

from neo.core.migrations import MigrationSource
from neo.data.errors import render_postgrest_error
from neo.data.router import PREFIX, router
from neo.data.settings import DataSettings
from neo.data.state import DataState, start

MIGRATIONS = MigrationSource("data", Path(__file__).with_name("migrations"))

__all__ = [
    "MIGRATIONS",
    "PREFIX",
    "DataSettings",
    "DataState",
    "render_postgrest_error",
    "router",
    "start",
]
