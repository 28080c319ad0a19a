"""View lineage: which base-table column each view column shows, and the foreign keys that
hold between views (and tables) because of it.

PostgreSQL keeps a view as the parse tree of its query (`pg_rewrite.ev_action`, in the
node-tree text form). Each top-level target entry carries `resorigtbl`/`resorigcol`: the
relation and column a plain column reference comes from, whatever name the view gives it.
Following these (through views of views, into tables of schemas that are not exposed) lets
embedding work through views that rename key columns, as PostgREST does; computed columns and
aggregates have no origin and break the chain.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the schema cache imports this module to build itself
    from neo.data.schema_cache import ForeignKey, Key, Relation

# A token of the node-tree text: a brace or parenthesis, a quoted string, or a bare item
# (backslash escapes the next character, as `outToken` writes them).
_TOKEN = re.compile(r'[{}()]|"(?:[^"\\]|\\.)*"|(?:[^\s{}()"\\]|\\.)+')
_FIELDS = {":resno", ":resorigtbl", ":resorigcol"}
MAX_DEPTH = 16  # views of views followed at most this deep
Shows = dict[tuple["Key", str], tuple["Key", str]]  # (view, column) -> (relation, column)


def target_origins(action: str) -> list[tuple[int, int, int]]:
    """(resno, origin relation oid, origin column number) of the view query's own output
    columns; nested queries (subqueries, sublinks, CTEs) are skipped."""
    out: list[tuple[int, int, int]] = []
    depth, in_targets, last = 0, False, ""
    entry: dict[str, int] = {}
    for item in _TOKEN.findall(action):
        if item == "{":
            depth += 1
        elif item == "}":
            if in_targets and depth == 2 and entry.keys() >= _FIELDS:
                out.append((entry[":resno"], entry[":resorigtbl"], entry[":resorigcol"]))
            entry = {} if depth == 2 else entry
            depth -= 1
        elif depth == 1 and item.startswith(":"):
            in_targets = item == ":targetList"
        elif in_targets and depth == 2 and last in _FIELDS and item.isdigit():
            entry[last] = int(item)
        last = item
    return out


def lineage(
    actions: dict[int, str], oids: dict[int, Key], attnames: dict[tuple[int, int], str]
) -> Shows:
    """(view, column) -> (relation, column) it shows, one step down, from each view's parse
    tree (by relation oid; a view's column number is its target entry's number)."""
    out: Shows = {}
    for view, action in actions.items():
        key = oids.get(view)
        for resno, table, column in target_origins(action) if key is not None else ():
            name, origin = attnames.get((view, resno)), oids.get(table)
            base = attnames.get((table, column))
            if key is not None and name and origin and base:
                out[(key, name)] = (origin, base)
    return out


def unknown_origins(actions: Iterable[str], known: Container[int]) -> set[int]:
    """Relations the views read that are not known yet (tables and views of other schemas)."""
    return {t for a in actions for _, t, _ in target_origins(a) if t and t not in known}


def through_views(
    foreign_keys: list[ForeignKey], relations: dict[Key, Relation], shows: Shows
) -> list[ForeignKey]:
    """Each foreign key again for every exposed view of its table (either side) that shows
    all its columns, under the names the view gives them."""
    exposes: dict[Key, dict[Key, dict[str, str]]] = {}  # table -> view -> table col -> view col
    for view, column in shows:
        table, base = _base(shows, view, column)
        exposes.setdefault(table, {}).setdefault(view, {}).setdefault(base, column)

    def aliases(table: Key, columns: tuple[str, ...]) -> list[tuple[Key, tuple[str, ...]]]:
        found = [(table, columns)]
        for view, cols in exposes.get(table, {}).items():
            if view in relations and all(c in cols for c in columns):
                found.append((view, tuple(cols[c] for c in columns)))
        return found

    out = []
    for fk in foreign_keys:
        own = ((fk.schema, fk.relation), (fk.ref_schema, fk.ref_relation))
        for src, cols in aliases(own[0], fk.columns):
            for dst, ref_cols in aliases(own[1], fk.ref_columns):
                if (src, dst) != own and src in relations and dst in relations:
                    out.append(
                        replace(
                            fk,
                            schema=src[0],
                            relation=src[1],
                            columns=cols,
                            ref_schema=dst[0],
                            ref_relation=dst[1],
                            ref_columns=ref_cols,
                            via_view=True,
                        )
                    )
    return out


def _base(shows: Shows, view: Key, column: str) -> tuple[Key, str]:
    at = (view, column)
    for _ in range(MAX_DEPTH):
        if at not in shows:
            break
        at = shows[at]
    return at
