"""The OpenAPI (Swagger 2.0) description PostgREST serves at `GET /rest/v1/`.

Built from the schema cache: a path per table, view and function, a definition per
relation with its columns, types, defaults and primary-key notes.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from neo import __version__
from neo.data.schema_cache import Column, Function, Relation, SchemaCache

_TYPES = {
    "integer": ("integer", "integer"), "bigint": ("integer", "bigint"),
    "smallint": ("integer", "smallint"), "numeric": ("number", "numeric"),
    "real": ("number", "real"), "double precision": ("number", "double precision"),
    "boolean": ("boolean", "boolean"), "json": ("object", "json"), "jsonb": ("object", "jsonb"),
}  # fmt: skip


def openapi_document(cache: SchemaCache, schema: str, public_url: str) -> bytes:
    """The Swagger document of one exposed schema, as bytes."""
    url = urlsplit(public_url)
    paths: dict[str, Any] = {
        "/": {
            "get": {
                "produces": ["application/openapi+json", "application/json"],
                "responses": {"200": {"description": "OK"}},
                "summary": "OpenAPI description (this document)",
                "tags": ["Introspection"],
            }
        }
    }
    definitions: dict[str, Any] = {}
    for (s, name), rel in sorted(cache.relations.items()):
        if s == schema:
            paths[f"/{name}"] = _relation_path(rel)
            definitions[name] = _definition(rel)
    for (s, name), fns in sorted(cache.functions.items()):
        if s == schema:
            paths[f"/rpc/{name}"] = _function_path(fns[0])
    doc = {
        "swagger": "2.0",
        "info": {"description": "", "title": "standard public schema", "version": __version__},
        "host": url.netloc,
        "basePath": "/rest/v1",
        "schemes": [url.scheme or "http"],
        "consumes": ["application/json", "application/vnd.pgrst.object+json", "text/csv"],
        "produces": ["application/json", "application/vnd.pgrst.object+json", "text/csv"],
        "paths": paths,
        "definitions": definitions,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def _property(column: Column, pk: bool) -> dict[str, Any]:
    kind, fmt = _TYPES.get(column.type, ("string", column.type))
    if column.type.endswith("[]"):
        kind = "array"
    prop: dict[str, Any] = {"format": fmt, "type": kind}
    if column.default is not None:
        prop["default"] = column.default
    notes = [column.description] if column.description else []
    if pk:
        notes.append("Note:\nThis is a Primary Key.<pk/>")
    if notes:
        prop["description"] = "\n\n".join(notes)
    return prop


def _definition(rel: Relation) -> dict[str, Any]:
    required = [
        c.name
        for c in rel.columns.values()
        if not c.nullable and c.default is None and not c.generated
    ]
    doc: dict[str, Any] = {
        "properties": {c.name: _property(c, c.name in rel.pk) for c in rel.columns.values()},
        "type": "object",
    }
    if required:
        doc["required"] = required
    if rel.description:
        doc["description"] = rel.description
    return doc


def _relation_path(rel: Relation) -> dict[str, Any]:
    ok = {"200": {"description": "OK"}}
    methods: dict[str, Any] = {"get": {"tags": [rel.name], "responses": ok}}
    if rel.kind in ("r", "p", "v", "f"):
        for verb, status in (("post", "201"), ("patch", "204"), ("delete", "204")):
            methods[verb] = {"tags": [rel.name], "responses": {status: {"description": "OK"}}}
    return methods


def _function_path(fn: Function) -> dict[str, Any]:
    params = {
        p.name: {"format": p.type, "type": _TYPES.get(p.type, ("string",))[0]}
        for p in fn.params
        if p.name
    }
    body = {
        "in": "body",
        "name": "args",
        "required": True,
        "schema": {
            "type": "object",
            "properties": params,
            "required": [p.name for p in fn.params if not p.has_default and p.name],
        },
    }
    methods: dict[str, Any] = {
        "post": {
            "tags": ["(rpc) " + fn.name],
            "parameters": [body],
            "responses": {"200": {"description": "OK"}},
        }
    }
    if fn.volatility != "v":
        methods["get"] = {"tags": ["(rpc) " + fn.name], "responses": {"200": {"description": "OK"}}}
    if fn.description:
        for op in methods.values():
            op["summary"] = fn.description
    return methods
