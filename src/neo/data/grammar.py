"""The query-string grammar of PostgREST: select lists, filters, logic trees and order terms.

Pure functions from strings to the typed nodes of `request.py`; every syntax error becomes
PGRST100 with PostgREST's "failed to parse …" message.
"""

from __future__ import annotations

import functools
import re

from neo.data.errors import ApiError, parse_error
from neo.data.nodes import (
    Aggregate,
    Embed,
    Field,
    Filter,
    JsonStep,
    Logic,
    OrderTerm,
    SelectColumn,
    SelectItem,
    Star,
)

OPERATORS = frozenset(
    {
        *("eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "match", "imatch", "in"),
        *("is", "isdistinct", "fts", "plfts", "phfts", "wfts", "cs", "cd", "ov", "sl", "sr"),
        *("nxr", "nxl", "adj"),
    }
)
QUANTIFIABLE = frozenset(
    {"eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "match", "imatch"}
)
FTS = frozenset({"fts", "plfts", "phfts", "wfts"})
IS_VALUES = frozenset({"null", "not_null", "true", "false", "unknown"})
AGGREGATES = frozenset({"count", "sum", "avg", "max", "min"})
_NAME_STOP = set(',()!:."') | {"-"}
_JSON_KEY = re.compile(r"^(->>|->)")
_AGGREGATE = re.compile(r"(^|\.)(count|sum|avg|max|min)\(\)(::[A-Za-z0-9_ ]+)?$")


def split_top(text: str, sep: str = ",") -> list[str]:
    """Split on `sep` outside parentheses, braces and double quotes."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and quoted:
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "({":
            depth += 1
        elif not quoted and ch in ")}":
            depth -= 1
        elif not quoted and depth == 0 and ch == sep:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def unquote(text: str) -> str:
    """`"a\\"b"` -> `a"b`; unquoted text is returned as it is."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def parse_field(text: str, what: str = "select parameter") -> Field:
    """`col`, `"quoted col"`, `data->a->>b`, `tags->0`."""
    text = text.strip()
    name, rest = _take_name(text)
    if not name:
        raise parse_error(what, text, "expected a column name")
    steps: list[JsonStep] = []
    while rest:
        m = _JSON_KEY.match(rest)
        if not m:
            raise parse_error(what, text, f"unexpected {rest[:1]!r} in a field")
        key, rest = _take_name(rest[m.end() :])
        if not key:
            raise parse_error(what, text, "expected a JSON key after an arrow")
        steps.append(JsonStep(m.group(1), key))
    return Field(name, tuple(steps))


def _take_name(text: str) -> tuple[str, str]:
    if text.startswith('"'):
        end = 1
        while end < len(text) and text[end] != '"':
            end += 2 if text[end] == "\\" else 1
        if end >= len(text):
            return "", text
        return unquote(text[: end + 1]), text[end + 1 :]
    i = 0
    while i < len(text) and not (
        text[i] in _NAME_STOP and (text[i] != "-" or text[i : i + 2] == "->")
    ):
        i += 1
    return text[:i].strip(), text[i:]


@functools.lru_cache(maxsize=1024)
def parse_select(text: str) -> tuple[SelectItem, ...]:
    """The `select` parameter as a tree of columns, stars and embeds (cached: clients repeat
    the same few select lists)."""
    if not text.strip():
        return (Star(),)
    return tuple(_select_item(p.strip(), text) for p in split_top(text))


def _select_item(item: str, whole: str) -> SelectItem:
    if not item:
        raise parse_error("select parameter", whole, "empty select item")
    if item == "*":
        return Star()
    alias, body = _alias(item)
    aggregated = body == "count()" or _AGGREGATE.search(body) is not None
    if not aggregated and item.endswith(")") and "(" in item:
        return _embed(item, whole)
    if body == "count()":
        return SelectColumn(Field("*"), alias, None, Aggregate("count"))
    cast = None
    if "::" in body:
        body, cast = body.rsplit("::", 1)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_ \[\]]*", cast):
            raise parse_error("select parameter", whole, f"invalid cast {cast!r}")
    aggregate = None
    m = re.fullmatch(r"(.*)\.(count|sum|avg|max|min)\(\)", body)
    if m:
        body, aggregate = m.group(1), Aggregate(m.group(2))
    return SelectColumn(parse_field(body), alias, cast, aggregate)


def _alias(item: str) -> tuple[str | None, str]:
    head, sep, tail = item.partition(":")
    if sep and not tail.startswith(":") and not head.startswith('"') and "->" not in head:
        return head.strip() or None, tail.strip()
    if head.startswith('"') and sep and not tail.startswith(":") and head.endswith('"'):
        return unquote(head), tail.strip()
    return None, item


def _embed(item: str, whole: str) -> Embed:
    spread = item.startswith("...")
    body = item[3:] if spread else item
    open_at = body.find("(")
    alias, head = _alias(body[:open_at])
    inner = body[open_at + 1 : -1]
    parts = head.split("!")
    name = unquote(parts[0].strip())
    if not name or any(c in name for c in "(),"):
        raise parse_error("select parameter", whole, f"unexpected {head!r}")
    hint, join = None, None
    for part in parts[1:]:
        if part in ("inner", "left"):
            join = part
        elif hint is None and part:
            hint = part
        else:
            raise parse_error("select parameter", whole, f"unexpected hint {part!r}")
    items = parse_select(inner) if inner.strip() else ()
    return Embed(name, alias, hint, join, spread, items)


def parse_filter(field_text: str, value: str, *, embed_path: tuple[str, ...] = ()) -> Filter:
    """`col` + `[not.]op[(mod)].value` -> a Filter."""
    shown = f"{field_text}={value}" if field_text else value
    negated = value.startswith("not.")
    rest = value[4:] if negated else value
    op_text, dot, operand = rest.partition(".")
    m = re.fullmatch(r"([a-z]+)(?:\(([^)]*)\))?", op_text)
    if not dot or not m or m.group(1) not in OPERATORS:
        raise parse_error("filter", shown, f"unknown operator in {rest!r}")
    op, modifier = m.group(1), m.group(2)
    quant, lang = None, None
    if modifier is not None:
        if op in FTS:
            lang = modifier
        elif op in QUANTIFIABLE and modifier in ("any", "all"):
            quant = modifier
        else:
            raise parse_error("filter", shown, f"unexpected modifier {modifier!r}")
    field = parse_field(field_text, "filter")
    return Filter(field, op, negated, _operand(op, operand, quant, shown), quant, lang, embed_path)


def _operand(op: str, text: str, quant: str | None, shown: str) -> str | tuple[str, ...]:
    if op == "in" or quant:
        if not (text.startswith("(") and text.endswith(")")) and not (
            quant and text.startswith("{") and text.endswith("}")
        ):
            raise parse_error("filter", shown, "expected a list in parentheses")
        inner = text[1:-1]
        return tuple(unquote(v.strip()) for v in split_top(inner)) if inner.strip() else ()
    if op == "is" and text.lower() not in IS_VALUES:
        raise parse_error("filter", shown, "is expects null, not_null, true, false or unknown")
    return text


def parse_logic(key: str, value: str, *, embed_path: tuple[str, ...] = ()) -> Logic:
    """`or`/`and`/`not.or`/`not.and` = `(item, ...)` -> a Logic tree."""
    negated = key.startswith("not.")
    op = key[4:] if negated else key
    return _logic(op, negated, value, f"{key}={value}", embed_path)


def _logic(op: str, negated: bool, text: str, shown: str, path: tuple[str, ...]) -> Logic:
    if not (text.startswith("(") and text.endswith(")")) or op not in ("or", "and"):
        raise parse_error("logic tree", shown, "expected a parenthesised list")
    children: list[Filter | Logic] = []
    for item in split_top(text[1:-1]):
        item = item.strip()
        m = re.match(r"(not\.)?(and|or)\(", item)
        if m:
            children.append(_logic(m.group(2), bool(m.group(1)), item[m.end() - 1 :], shown, path))
            continue
        field_text, dot, rest = item.partition(".")
        if not dot:
            raise parse_error("logic tree", shown, f"unexpected {item!r}")
        filt = parse_filter(field_text, rest, embed_path=path)
        if isinstance(filt.operand, str):
            filt = Filter(
                filt.field,
                filt.op,
                filt.negated,
                unquote(filt.operand),
                filt.quant,
                filt.lang,
                path,
            )
        children.append(filt)
    if not children:
        raise parse_error("logic tree", shown, "empty logic tree")
    return Logic(op, negated, tuple(children))


@functools.lru_cache(maxsize=1024)
def parse_order(text: str) -> tuple[OrderTerm, ...]:
    """`col.desc.nullsfirst, rel(col).asc` -> order terms."""
    terms = []
    for part in split_top(text):
        part = part.strip()
        if not part:
            raise parse_error("order", text, "empty order term")
        relation = None
        m = re.match(r"([^().]+)\(([^)]+)\)(.*)$", part)
        if m:
            relation, part = m.group(1).strip(), m.group(2) + m.group(3)
        pieces = part.split(".")
        field = parse_field(pieces[0], "order")
        desc, nulls = False, None
        for mod in pieces[1:]:
            if mod in ("asc", "desc"):
                desc = mod == "desc"
            elif mod in ("nullsfirst", "nullslast"):
                nulls = mod[5:]
            else:
                raise parse_error("order", text, f"unexpected {mod!r}")
        terms.append(OrderTerm(field, desc, nulls, relation))
    return tuple(terms)


def parse_int(name: str, text: str) -> int:
    """A non-negative integer parameter (limit, offset)."""
    if not text.isdigit() or len(text) > 18:
        raise ApiError(
            f'"failed to parse {name} parameter ({text})" (line 1, column 1)',
            code="PGRST100",
            details="expected a non-negative integer below 10^18",
        )
    return int(text)
