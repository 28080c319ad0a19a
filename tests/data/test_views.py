"""View lineage from the stored parse tree: only the view query's own output columns count."""

from __future__ import annotations

import pytest

from neo.data.views import target_origins

TE = (
    "{{TARGETENTRY :expr {expr} :resno {resno} :resname {name} :ressortgroupref 0 "
    ":resorigtbl {tbl} :resorigcol {col} :resjunk false}}"
)
VAR = "{VAR :varno 1 :varattno 1 :vartype 23 :location -1}"


def te(resno: int, name: str, tbl: int, col: int, expr: str = VAR) -> str:
    return TE.format(expr=expr, resno=resno, name=name, tbl=tbl, col=col)


def query(targets: str, rtable: str = "<>") -> str:
    return (
        "({QUERY :commandType 1 :utilityStmt <> :rtable " + rtable + " :jointree "
        "{FROMEXPR :fromlist ({RANGETBLREF :rtindex 1}) :quals <>} :targetList (" + targets + ")"
        " :override 0 :sortClause <>})"
    )


def sub(targets: str) -> str:
    """A sublink expression holding its own query with target entries."""
    return "{SUBLINK :subLinkType 4 :subselect " + query(targets)[1:-1] + " :location -1}"


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        (query(te(1, "id", 100, 1)), [(1, 100, 1)]),
        (query(te(1, "key", 100, 1) + " " + te(2, "label", 100, 3)), [(1, 100, 1), (2, 100, 3)]),
        # a computed column has no origin (0) and is reported as such
        (query(te(1, "n", 0, 0)), [(1, 0, 0)]),
        # a sublink's own target entry (same resno) is not the view's column
        (query(te(1, "one", 0, 0, expr=sub(te(1, "one", 200, 2)))), [(1, 0, 0)]),
        # a subquery in FROM carries target entries before the view's own list
        (
            query(
                te(1, "x", 300, 4),
                rtable="({RANGETBLENTRY :subquery " + query(te(1, "x", 300, 9))[1:-1] + "})",
            ),
            [(1, 300, 4)],
        ),
        # names with escaped characters do not confuse the tokenizer
        (query(te(1, r"my\ \{col\}", 100, 2)), [(1, 100, 2)]),
        ("", []),
        ("<>", []),
    ],
)
def test_target_origins(action: str, expected: list[tuple[int, int, int]]) -> None:
    assert target_origins(action) == expected
