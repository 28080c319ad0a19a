"""`neo keys --retire KID` on a data dir nobody runs: a previous signing key is retired (no
longer listed, so no longer loaded by the key ring), the signing key cannot be (exit 2)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from neo.kit.net import free_port
from tests.cli.processes import Result, neo_env, run_neo, wait_gone

pytestmark = pytest.mark.slow


def kids(output: str, status: str) -> list[str]:
    """Kids of the signing keys `neo keys` lists with `status`."""
    return re.findall(rf"^\s+ES256 {status}\s+(\S+)\s*$", output, re.MULTILINE)


def test_retire_a_previous_key_but_never_the_current_one(
    scratch: Callable[[str], Path],
) -> None:
    data = scratch("retire") / "data"
    env = neo_env(NEO_API__PORT=str(free_port()), NEO_DB__PORT=str(free_port()))

    def neo(*args: str) -> Result:
        result = run_neo(*args, "--data-dir", str(data), cwd=data.parent, env=env)
        assert wait_gone([], data, timeout=5) == []
        return result

    first = neo("keys")
    assert first.code == 0, first.output
    [original] = kids(first.output, "current")
    assert neo("keys", "--rotate").code == 0
    promoted = neo("keys", "--rotate")
    assert kids(promoted.output, "previous") == [original], promoted.output

    refused = neo("keys", "--retire", kids(promoted.output, "current")[0])
    assert refused.code == 2, refused.output
    assert "Traceback" not in refused.output
    assert "cannot be retired" in refused.flat

    retired = neo("keys", "--retire", original)
    assert retired.code == 0, retired.output
    assert f"retired key {original}" in retired.flat
    assert original not in kids(retired.output, "previous")
    assert kids(retired.output, "current") == kids(promoted.output, "current")
