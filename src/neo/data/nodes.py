"""The typed nodes of a parsed request: fields, select items, filters, logic trees, order terms.

Plain frozen dataclasses with no behaviour, shared by the parser (`grammar.py`,
`request.py`), the planner and the SQL builder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class JsonStep:
    """One `->key` or `->>key` of a JSON path."""

    arrow: str
    key: str


@dataclass(frozen=True)
class Field:
    """A column, optionally followed by a JSON path."""

    name: str
    path: tuple[JsonStep, ...] = ()

    @property
    def output_name(self) -> str:
        """The key PostgREST gives the value in the body: the last JSON key, else the column."""
        if self.path and not self.path[-1].key.lstrip("-").isdigit():
            return self.path[-1].key
        return self.name


@dataclass(frozen=True)
class Aggregate:
    """An aggregate function applied to a selected column (`count()`, `col.sum()`)."""

    function: str


@dataclass(frozen=True)
class Star:
    """`*`: every column."""


@dataclass(frozen=True)
class SelectColumn:
    """`alias:field::cast` (optionally aggregated)."""

    field: Field
    alias: str | None = None
    cast: str | None = None
    aggregate: Aggregate | None = None


@dataclass(frozen=True)
class Embed:
    """`...alias:relation!hint!inner(items)`: a resource embedded through a foreign key."""

    name: str
    alias: str | None
    hint: str | None
    join: str | None  # "inner" | "left" | None
    spread: bool
    items: tuple[SelectItem, ...]

    @property
    def output_name(self) -> str:
        """The key of the embedded value in the parent object."""
        return self.alias or self.name


SelectItem = Star | SelectColumn | Embed


@dataclass(frozen=True)
class Filter:
    """`field=[not.]op[(modifier)].operand`, on the root or on an embedded resource."""

    field: Field
    op: str
    negated: bool
    operand: str | tuple[str, ...]
    quant: str | None = None  # "any" | "all"
    lang: str | None = None  # fts language
    embed_path: tuple[str, ...] = ()


@dataclass(frozen=True)
class Logic:
    """`[not.]or=(...)` / `and=(...)`, nestable."""

    op: Literal["or", "and"] | str
    negated: bool
    children: tuple[Filter | Logic, ...]


Condition = Filter | Logic


@dataclass(frozen=True)
class OrderTerm:
    """`field.desc.nullslast`, or `relation(field)` for a to-one embedded column."""

    field: Field
    desc: bool = False
    nulls: str | None = None  # "first" | "last"
    relation: str | None = None
