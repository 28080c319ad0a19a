"""Relationship detection for embedding, as PostgREST does it from foreign keys.

For a parent relation and an embed name (+ optional hint) find the one relationship:
many-to-one (the parent's FK), one-to-many / one-to-one (the child's FK), many-to-many
through a junction table whose FKs point at both, or a computed relationship (a function
taking the parent's row). None -> PGRST200; several -> PGRST201.
"""

from __future__ import annotations

from dataclasses import dataclass

from neo.data.errors import ApiError
from neo.data.schema_cache import ForeignKey, Function, Relation, SchemaCache


@dataclass(frozen=True)
class Relationship:
    """How a child relation joins its parent."""

    kind: str  # many-to-one | one-to-many | one-to-one | many-to-many
    target: Relation
    fk: ForeignKey
    pairs: tuple[tuple[str, str], ...]  # (parent column, child column) for direct joins
    junction: Relation | None = None
    junction_fk: ForeignKey | None = None  # junction -> target (m2m)
    function: Function | None = None  # a computed relationship: rows = function(parent row)

    @property
    def to_one(self) -> bool:
        return self.kind in ("many-to-one", "one-to-one")

    def describe(self, parent: Relation) -> dict[str, str]:
        """An entry of PGRST201's details list."""
        if self.junction is not None and self.junction_fk is not None:
            how = f"{self.junction.name}, {self.fk.name} and {self.junction_fk.name}"
        else:
            cols = ", ".join(c for c, _ in self.pairs)
            how = f"{self.fk.name} using {parent.name}({cols}) and {self.target.name}"
        return {
            "cardinality": self.kind,
            "embedding": f"{parent.name} with {self.target.name}",
            "relationship": how,
        }


def find_relationship(
    cache: SchemaCache, parent: Relation, name: str, hint: str | None
) -> Relationship:
    """The single relationship `parent -> name[!hint]`, or PostgREST's error."""
    computed = cache.computed(parent.key, name) if hint is None else []
    if len(computed) == 1:  # a computed relationship wins over foreign keys of that name
        return _computed(parent, computed[0], cache)
    found = [r for r in _candidates(cache, parent, name) if _matches(r, hint)]
    tables = [r for r in found if not r.fk.via_view]
    if len(found) == 1 or (len(tables) == 1 and tables[0].target.name != name):
        return tables[0] if len(found) > 1 else found[0]
    if not found:
        raise ApiError(
            f"Could not find a relationship between '{parent.name}' and '{name}' in the schema "
            "cache",
            code="PGRST200",
            details=f"Searched for a foreign key relationship between '{parent.name}' and "
            f"'{name}{'!' + hint if hint else ''}' in the schema '{parent.schema}', but no "
            "matches were found.",
        )
    direct = [r for r in found if r.junction is None]
    if hint is None and len(direct) == 1 and direct[0].target.name == name:
        return direct[0]  # PostgREST prefers a direct FK over m2m for the same target
    options = ", ".join(f"'{name}!{_hint_of(r)}'" for r in found)
    raise ApiError(
        f"Could not embed because more than one relationship was found for '{parent.name}' "
        f"and '{name}'",
        status=300,
        code="PGRST201",
        details=[r.describe(parent) for r in found],
        hint=f"Try changing '{name}' to one of the following: {options}. Find the desired "
        "relationship in the 'details' key.",
    )


def _computed(parent: Relation, fn: Function, cache: SchemaCache) -> Relationship:
    assert fn.return_relation is not None
    target = cache.relations[fn.return_relation]
    to_one = not fn.returns_set or fn.rows == 1
    # No constraint backs it: the "key" only names the function for error messages.
    key = ForeignKey(fn.name, parent.schema, parent.name, (), target.schema, target.name, ())
    kind = "many-to-one" if to_one else "one-to-many"
    return Relationship(kind, target, key, (), function=fn)


def _hint_of(r: Relationship) -> str:
    return r.junction.name if r.junction is not None else r.fk.name


def _candidates(cache: SchemaCache, parent: Relation, name: str) -> list[Relationship]:
    out: list[Relationship] = []
    for fk in cache.foreign_keys:
        if (fk.schema, fk.relation) == parent.key:
            target = cache.relation(fk.ref_schema, fk.ref_relation)
            by_column = len(fk.columns) == 1 and fk.columns[0] == name
            if target is not None and (target.name == name or fk.name == name or by_column):
                pairs = tuple(zip(fk.columns, fk.ref_columns, strict=True))
                out.append(Relationship("many-to-one", target, fk, pairs))
        if (fk.ref_schema, fk.ref_relation) == parent.key and fk.relation == name:
            child = cache.relation(fk.schema, fk.relation)
            if child is not None:
                kind = "one-to-one" if _is_unique(child, fk.columns) else "one-to-many"
                pairs = tuple(zip(fk.ref_columns, fk.columns, strict=True))
                out.append(Relationship(kind, child, fk, pairs))
    out.extend(_many_to_many(cache, parent, name))
    return out


def _many_to_many(cache: SchemaCache, parent: Relation, name: str) -> list[Relationship]:
    out = []
    for fk in cache.foreign_keys:
        if (fk.ref_schema, fk.ref_relation) != parent.key:
            continue
        junction = cache.relation(fk.schema, fk.relation)
        if junction is None or junction.key == parent.key:
            continue
        for other in cache.foreign_keys:
            if other is fk or (other.schema, other.relation) != junction.key:
                continue
            target = cache.relation(other.ref_schema, other.ref_relation)
            if target is None or target.name != name:
                continue
            keyed = set(junction.pk) or set()
            if set(fk.columns) <= keyed and set(other.columns) <= keyed:
                pairs = tuple(zip(fk.ref_columns, fk.columns, strict=True))
                out.append(Relationship("many-to-many", target, fk, pairs, junction, other))
    return out


def _is_unique(rel: Relation, columns: tuple[str, ...]) -> bool:
    cols = frozenset(columns)
    return cols == frozenset(rel.pk) or cols in rel.unique_keys


def _matches(r: Relationship, hint: str | None) -> bool:
    if hint is None:
        return True
    names = {r.fk.name, *r.fk.columns, *r.fk.ref_columns}
    if r.junction is not None and r.junction_fk is not None:
        names |= {r.junction.name, r.junction_fk.name}
    return hint in names
