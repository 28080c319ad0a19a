"""Architecture rules that keep the code navigable (STYLE.md): module size, docstrings,
public surfaces, and SQL only where it belongs."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import neo

SRC = Path(neo.__file__).parent
MODULES = sorted(p for p in SRC.rglob("*.py"))
MAX_LINES = 600
CAPABILITIES = [p.parent for p in SRC.glob("*/__init__.py") if p.parent.name not in {"kit", "cli"}]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_module_is_under_the_size_limit(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_LINES


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_module_opens_with_a_docstring(path: Path) -> None:
    tree = ast.parse(path.read_text())
    if path.name == "__init__.py" and not tree.body:
        return
    assert ast.get_docstring(tree), f"{path} needs a docstring saying what it is in charge of"


@pytest.mark.parametrize("package", CAPABILITIES, ids=lambda p: p.name)
def test_capability_declares_its_public_surface(package: Path) -> None:
    module = importlib.import_module(f"neo.{package.name}")
    assert module.__doc__
    assert len(module.__doc__) > 80
    assert isinstance(getattr(module, "__all__", None), list)
    for name in module.__all__:
        assert hasattr(module, name), f"neo.{package.name}.__all__ names missing {name}"


def test_every_module_imports_without_side_effects() -> None:
    for info in pkgutil.walk_packages(neo.__path__, "neo."):
        if info.name == "neo.__main__":
            continue
        importlib.import_module(info.name)


def _runs_sql(path: Path) -> bool:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in {
            "fetch",
            "fetchrow",
            "fetchval",
            "executemany",
        }:
            return True
    return False


ALLOWED_SQL = {"store.py", "query.py", "migrations.py", "db.py"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_sql_runs_only_in_store_modules(path: Path) -> None:
    if path.name in ALLOWED_SQL or "cli" in path.parts:
        return
    assert not _runs_sql(path), f"{path}: SQL belongs in store.py (named queries)"
