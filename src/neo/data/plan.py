"""The planner: an `ApiRequest` checked against the schema cache becomes a plan tree.

A `Node` is one relation read (root, embedded, or a function's result): output items, its
conditions, order, limit and offset, and its embeds with the relationship that joins them.
Unknown tables, columns, relationships and paths raise PostgREST's errors here, before any
SQL is built (PGRST108, PGRST123, PGRST200/201, PGRST204, PGRST205, 42703).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from neo.data.errors import ApiError, missing_column, not_found_table
from neo.data.nodes import Condition, Embed, Field, Filter, Logic, OrderTerm, SelectColumn, Star
from neo.data.relations import Relationship, find_relationship
from neo.data.request import ApiRequest, Path
from neo.data.schema_cache import Column, Function, Relation, SchemaCache


@dataclass
class OutColumn:
    """A selected value: a column or JSON path, optionally cast or aggregated."""

    field: Field
    name: str
    cast: str | None = None
    aggregate: str | None = None


@dataclass
class OutStar:
    """Every column of the node's relation."""


@dataclass
class EmbedPlan:
    """An embedded resource: its relationship and its own node."""

    name: str
    rel: Relationship
    node: Node
    spread: bool
    inner: bool
    lateral: str


@dataclass
class Node:
    """One relation read: what to output, which rows, in which order, how many."""

    alias: str
    label: str
    columns: dict[str, Column] | None
    relation: Relation | None = None
    items: list[OutColumn | OutStar | EmbedPlan] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    null_embeds: list[tuple[EmbedPlan, bool]] = field(default_factory=list)  # (embed, is null)
    order: list[tuple[OrderTerm, EmbedPlan | None]] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None
    fields: dict[str, Function] = field(default_factory=dict)  # computed fields of the relation

    @property
    def embeds(self) -> list[EmbedPlan]:
        return [i for i in self.items if isinstance(i, EmbedPlan)]

    def column_type(self, name: str) -> str:
        """The SQL type of a column or computed field (42703 when neither is known)."""
        if self.columns is not None and name in self.columns:
            return self.columns[name].type
        if name in self.fields:
            return self.fields[name].return_type
        raise missing_column(self.label, name)

    def output_names(self) -> list[str]:
        """Keys of one output object (stars expanded)."""
        names: list[str] = []
        for item in self.items:
            if isinstance(item, OutStar):
                names.extend(self.columns or {})
            elif isinstance(item, OutColumn):
                names.append(item.name)
            elif item.spread:
                names.extend(item.node.output_names())
            else:
                names.append(item.name)
        return names


class Planner:
    """Builds nodes for one request against one schema cache snapshot."""

    def __init__(
        self, req: ApiRequest, cache: SchemaCache, schema: str, *, aggregates: bool = False
    ) -> None:
        self.req, self.cache, self.schema = req, cache, schema
        self.aggregates = aggregates
        self._aliases = itertools.count()

    def relation(self, name: str) -> Relation:
        """The target relation (PGRST205 when missing)."""
        rel = self.cache.relation(self.schema, name)
        if rel is None:
            known = [n for (s, n) in self.cache.relations if s == self.schema]
            raise not_found_table(self.schema, name, known)
        return rel

    def root(
        self,
        relation: Relation | None,
        columns: dict[str, Column] | None = None,
        label: str | None = None,
    ) -> Node:
        """The root node with everything the request asks of it."""
        node = self.node(
            relation, columns, label or (relation.name if relation else ""), self.req.select, ()
        )
        known = {()} | set(self._paths(node, ()))
        for path in [*self.req.conditions, *self.req.order, *self.req.limit, *self.req.offset]:
            if path not in known:
                raise ApiError(
                    f"'{path[-1]}' is not an embedded resource in this request",
                    code="PGRST108",
                    hint=f"Verify that '{path[-1]}' is included in the 'select' query parameter.",
                )
        return node

    def _paths(self, node: Node, prefix: Path) -> list[Path]:
        out = []
        for e in node.embeds:
            out.append((*prefix, e.name))
            out.extend(self._paths(e.node, (*prefix, e.name)))
        return out

    def node(
        self,
        relation: Relation | None,
        columns: dict[str, Column] | None,
        label: str,
        items: tuple[object, ...],
        path: Path,
    ) -> Node:
        """A node for `items` at embedding `path`."""
        cols = relation.columns if relation is not None else columns
        node = Node(f"t{next(self._aliases)}", label, cols, relation)
        if relation is not None:
            node.fields = self.cache.fields.get(relation.key, {})
        for item in items or ():
            node.items.append(self._item(node, item, path))
        if not items and path == ():
            node.items.append(OutStar())
        self._conditions(node, path)
        for term in self.req.order.get(path, ()):
            node.order.append((term, self._order_embed(node, term)))
        node.limit = self.req.limit.get(path)
        node.offset = self.req.offset.get(path)
        return node

    def _item(self, node: Node, item: object, path: Path) -> OutColumn | OutStar | EmbedPlan:
        if isinstance(item, Star):
            return OutStar()
        if isinstance(item, SelectColumn):
            if path and _embedded_count(node, item):  # `rel(count)`, allowed without aggregates
                return OutColumn(Field("*"), item.alias or "count", item.cast, "count")
            if item.aggregate is not None and not self.aggregates:
                raise ApiError("Use of aggregate functions is not allowed", code="PGRST123")
            if item.field.name != "*":
                node.column_type(item.field.name)
            agg = item.aggregate.function if item.aggregate else None
            name = item.alias or agg or item.field.output_name
            return OutColumn(item.field, name, item.cast, agg)
        assert isinstance(item, Embed)
        return self._embed(node, item, path)

    def _embed(self, node: Node, item: Embed, path: Path) -> EmbedPlan:
        if node.relation is None:
            raise ApiError(
                f"Could not find a relationship between '{node.label}' and "
                f"'{item.name}' in the schema cache",
                code="PGRST200",
            )
        rel = find_relationship(self.cache, node.relation, item.name, item.hint)
        child_path = (*path, item.output_name)
        child = self.node(rel.target, None, rel.target.name, item.items or (), child_path)
        return EmbedPlan(
            item.output_name, rel, child, item.spread, item.join == "inner", f"e{child.alias[1:]}"
        )

    def _conditions(self, node: Node, path: Path) -> None:
        for cond in self.req.conditions.get(path, ()):
            embed = self._null_embed(node, cond)
            if embed is not None:
                node.null_embeds.append(embed)
                continue
            self._check(node, cond)
            node.conditions.append(cond)

    def _null_embed(self, node: Node, cond: Condition) -> tuple[EmbedPlan, bool] | None:
        if not isinstance(cond, Filter) or cond.op != "is" or cond.field.path:
            return None
        for e in node.embeds:
            if e.name == cond.field.name and str(cond.operand).lower() in ("null", "not_null"):
                is_null = (str(cond.operand).lower() == "null") != cond.negated
                return e, is_null
        return None

    def _check(self, node: Node, cond: Condition) -> None:
        if isinstance(cond, Logic):
            for child in cond.children:
                self._check(node, child)
        else:
            node.column_type(cond.field.name)

    def _order_embed(self, node: Node, term: OrderTerm) -> EmbedPlan | None:
        if term.relation is None:
            node.column_type(term.field.name)
            return None
        for e in node.embeds:
            if e.name == term.relation and e.rel.to_one:
                e.node.column_type(term.field.name)
                return e
        raise ApiError(
            f"A related order on '{term.relation}' is not possible",
            code="PGRST118",
            details=f"'{term.relation}' must be a to-one embedded resource in 'select'",
        )


def _embedded_count(node: Node, item: SelectColumn) -> bool:
    plain = item.aggregate is None and not item.field.path and item.field.name == "count"
    return plain and "count" not in (node.columns or {})
