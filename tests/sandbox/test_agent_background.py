"""A start-up that finds no compiled native agent (a fresh data dir) compiles it in the
background: the probe answers at once, the first sandbox waits for the compile and runs the
native agent, and the next start-up finds it compiled."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from neo.sandbox.lifecycle import build_runtime
from neo.sandbox.runtimes.base import SandboxSpec
from neo.sandbox.runtimes.local import LocalRuntime
from neo.sandbox.runtimes.probe import probe
from neo.sandbox.settings import SandboxSettings
from tests.sandbox.conftest import SLOTS, SMALL, remove_parents, run, searchable_root


async def test_a_fresh_start_compiles_meanwhile_and_the_first_sandbox_waits_for_it() -> None:
    root = searchable_root()
    settings = SandboxSettings(root=root, cgroup_parent=f"neo-test-{uuid.uuid4().hex[:8]}")
    report = probe(settings, Path("/nonexistent"), later=True)
    assert report.ok, report.missing
    assert report.agent is None
    assert report.agent_pending is not None
    assert report.facts["agent"].startswith("native, compiling")
    runtime = build_runtime(settings, report)
    assert isinstance(runtime, LocalRuntime)
    spec = SandboxSpec(str(uuid.uuid4()), next(SLOTS), SMALL)
    try:
        await runtime.create(spec)
        await runtime.start(spec)
        assert runtime.agent is not None  # the compiled one, not the Python fallback
        # the native agent is the sandbox's pid 1 (the Python agent is not)
        assert (await run(runtime, spec, "cat /proc/1/cmdline | tr '\\0' ' '")).stdout.startswith(
            "/.neo/agent"
        )
        again = probe(settings, Path("/nonexistent"), later=True)
        assert again.agent_pending is None
        assert again.agent == runtime.agent
    finally:
        await runtime.reap(set())
        remove_parents(runtime)
        shutil.rmtree(root, ignore_errors=True)
