"""Settings of the data API (`NEO_DATA__*`): exposed schemas, row limits and optional features.

They mirror PostgREST's `db-schemas`, `db-max-rows`, `db-plan-enabled`, `db-aggregates-enabled`
and `db-tx-end`, with Supabase's defaults.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from neo.core.settings import Section

TxEnd = Literal["commit", "commit-allow-override", "rollback", "rollback-allow-override"]


class DataSettings(Section):
    """How `/rest/v1` behaves."""

    schemas: list[str] = ["public", "graphql_public"]  # only those that exist are served
    max_rows: int | None = Field(None, ge=1)  # cap on rows a read returns
    plan_enabled: bool = False  # Accept: application/vnd.pgrst.plan answers with EXPLAIN
    aggregates_enabled: bool = False  # count(), sum() ... in select
    tx_end: TxEnd = "commit"  # `*-allow-override` lets `Prefer: tx=` choose
    role_settings: bool = True  # apply `ALTER ROLE … SET` (statement_timeout…) per request
    safe_update: bool = True  # refuse unfiltered PATCH/DELETE as Supabase's pg-safeupdate does
    reload_debounce: float = Field(0.05, ge=0)  # seconds to gather DDL notifications
