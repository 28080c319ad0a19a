"""The start-up probe names what the host lacks, and the app then refuses sandboxes instead
of running them with weaker isolation."""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from neo.sandbox import SandboxSettings, probe
from neo.sandbox.lifecycle import build_runtime
from neo.sandbox.runtimes import probe as probe_module
from neo.sandbox.runtimes.probe import KUBERNETES_MISSING, ProbeReport
from neo.settings import Settings
from tests.conftest import DEMO_SERVICE_KEY
from tests.sandbox.conftest import searchable_root
from tests.support.servers import asgi_client, running_app


def test_probe_reports_the_isolation_this_host_offers(sandbox_settings: SandboxSettings) -> None:
    report = probe(sandbox_settings, Path("/nonexistent"))
    assert report.ok, report.missing
    assert report.facts["namespaces"].startswith("user, pid, net (lo only)")
    assert report.facts["cgroups"] in ("v1", "v2")
    assert "BPF" in report.facts["seccomp"]
    assert report.facts["agent"].startswith("native (static")
    assert report.agent is not None


def test_without_a_compiler_auto_says_it_runs_the_python_agent_and_native_refuses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    root = searchable_root()
    try:
        auto = probe(SandboxSettings(root=root), root)
        assert auto.agent is None
        assert (
            auto.facts["agent"]
            == "python (native agent unavailable: no C compiler (cc or gcc) on PATH)"
        )
        native = probe(SandboxSettings(root=root, agent="native"), root)
        assert any(m.startswith("native agent (NEO_SANDBOX__AGENT=native)") for m in native.missing)
        chosen = probe(SandboxSettings(root=root, agent="python"), root)
        assert chosen.facts["agent"] == "python (NEO_SANDBOX__AGENT=python)"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_probe_names_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hidden = tmp_path / "private"
    hidden.mkdir(mode=0o700)
    monkeypatch.setenv("PATH", "/nonexistent")
    report = probe(SandboxSettings(root=hidden / "sandboxes"), tmp_path)
    assert not report.ok
    assert any("bubblewrap" in m and "apt-get install bubblewrap" in m for m in report.missing)
    assert any("setpriv" in m for m in report.missing)
    assert any(str(hidden) in m and "not searchable" in m for m in report.missing)


def test_a_namespace_check_that_hangs_is_named_missing_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # seen in CI: bwrap's sandboxed child waited forever on its parent, the probe's
    # TimeoutExpired failed a worker's start-up, and the child outlived everything
    hanging = tmp_path / "setpriv"
    hanging.write_text(f"#!/bin/sh\nsleep 60 &\necho $! >> {tmp_path}/children\nexec sleep 60\n")
    hanging.chmod(0o755)
    monkeypatch.setattr(probe_module, "NAMESPACE_TIMEOUT", 0.3)
    report = ProbeReport(runtime="local", root=tmp_path, bwrap="/usr/bin/bwrap")
    report.setpriv = str(hanging)
    probe_module._check_namespaces(report, 1_500_000)
    assert len(report.missing) == 1
    assert report.missing[0].startswith("namespaces: a throw-away sandbox did not finish")
    assert "namespaces" not in report.facts
    children = [int(pid) for pid in (tmp_path / "children").read_text().split()]
    assert len(children) == probe_module.NAMESPACE_TRIES  # tried again once
    for pid in children:  # each try's whole process group was killed
        assert not _alive(pid)


def _alive(pid: int) -> bool:
    """True for a running process (gone or a zombie: False), after 2 s of grace."""
    for _ in range(40):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return False
        if state == "Z":
            return False
        time.sleep(0.05)
    return True


def test_the_kubernetes_runtime_without_its_client_is_named_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the client is an optional dependency (`neo-backend[kubernetes]`): simulate its absence
    monkeypatch.setitem(sys.modules, "kubernetes", None)
    monkeypatch.delitem(sys.modules, "neo.sandbox.runtimes.kubernetes_probe", raising=False)
    report = probe(SandboxSettings(runtime="kubernetes"), tmp_path)
    assert not report.ok
    assert report.missing == [KUBERNETES_MISSING]
    assert build_runtime(SandboxSettings(runtime="kubernetes"), report) is None


async def test_app_refuses_sandboxes_when_isolation_is_missing(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    hidden = tmp_path / "private"
    hidden.mkdir(mode=0o700)
    settings = make_settings(sandbox={"root": str(hidden / "sandboxes")})
    async with running_app(settings) as app, asgi_client(app) as client:
        assert not app.state.sandbox.report.ok
        headers = {"apikey": DEMO_SERVICE_KEY, "authorization": f"Bearer {DEMO_SERVICE_KEY}"}
        response = await client.post("/sandbox/v1/sandboxes", json={}, headers=headers)
        assert response.status_code == 503
        assert not (hidden / "sandboxes").exists()
