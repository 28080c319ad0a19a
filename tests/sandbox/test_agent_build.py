"""Building the native agent: compiled once per source into the cache (static here), reused
without a compiler afterwards, binaries of older sources removed, and a clear failure when
there is no compiler and nothing cached."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from neo.sandbox.runtimes import agent_build
from neo.sandbox.runtimes.agent_build import AgentBuildFailed


def test_the_agent_is_built_once_per_source_and_older_builds_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    older = tmp_path / "neo-agent-0123456789abcdef-static"
    older.write_bytes(b"an agent of an older source")
    built = agent_build.build(tmp_path)
    assert built.path.name == f"neo-agent-{agent_build.digest()}-static"
    assert built.static
    assert not older.exists()
    usage = subprocess.run([str(built.path)], capture_output=True, text=True, check=False)
    assert (usage.returncode, usage.stderr.split()[0]) == (2, "usage:")
    stamp = built.path.stat().st_mtime_ns
    monkeypatch.setenv("PATH", "/nonexistent")  # no compiler now: the cached binary serves
    assert agent_build.build(tmp_path) == built
    assert built.path.stat().st_mtime_ns == stamp


def test_without_a_compiler_and_no_cached_binary_the_build_fails_saying_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(AgentBuildFailed, match="no C compiler"):
        agent_build.build(tmp_path)
    assert agent_build.resolve("auto", tmp_path)[0] is None
    with pytest.raises(AgentBuildFailed):
        agent_build.resolve("native", tmp_path)


def test_the_launcher_refuses_a_bad_uid_before_running_anything(tmp_path: Path) -> None:
    built = agent_build.build(tmp_path)
    marker = tmp_path / "ran"
    argv = [str(built.path), "--launch", "0", "--", "/usr/bin/touch", str(marker)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode == 125
    assert "bad uid" in done.stderr
    assert not marker.exists()


def test_a_binary_that_does_not_run_here_means_the_python_agent(tmp_path: Path) -> None:
    broken = tmp_path / f"neo-agent-{agent_build.digest()}-static"
    broken.write_text("#!/bin/sh\nexit 3\n")  # as a noexec mount or a foreign binary would fail
    broken.chmod(0o755)
    agent, why = agent_build.resolve("auto", tmp_path)
    assert agent is None
    assert why == f"python (native agent unavailable: {broken} does not run (exit 3))"
