"""The start-up probe: what isolation this host offers the configured runtime (local here,
docker in `docker_probe.py`, kubernetes in `kubernetes_probe.py`), compared with what the
settings require. Missing pieces are named, so NEO can refuse explicitly instead of running
sandboxes with weaker isolation than configured (`neo check` prints the report).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import subprocess
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from neo.sandbox.runtimes import agent_build, seccomp
from neo.sandbox.runtimes.agent_build import AgentBuildFailed, NativeAgent
from neo.sandbox.runtimes.cgroups import Cgroups, detect
from neo.sandbox.settings import SandboxSettings

if TYPE_CHECKING:  # the Docker SDK and kubernetes client are imported only when configured
    import docker
    from kubernetes.client import ApiClient

AGENT_PYTHON = "/usr/bin/python3"
NAMESPACE_TIMEOUT = 5.0  # seconds for each try of `_check_namespaces`' throw-away sandbox
NAMESPACE_TRIES = 2
KUBERNETES_MISSING = (
    "kubernetes: the official client is not installed (pip install 'neo-backend[kubernetes]')"
)


@dataclass
class ProbeReport:
    """What the host offers (`facts`) and what the settings require but is missing."""

    runtime: str
    root: Path
    facts: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    bwrap: str | None = None
    setpriv: str | None = None
    cgroups: Cgroups | None = None
    agent: NativeAgent | None = None  # the local runtime's native agent; None: agent.py
    # `auto` with nothing cached at start-up: the compile runs meanwhile (`probe(later=True)`)
    agent_pending: Future[tuple[NativeAgent | None, str]] | None = None
    docker: docker.DockerClient | None = None
    kubernetes: ApiClient | None = None

    @property
    def ok(self) -> bool:
        """True when sandboxes can run with the configured isolation."""
        return not self.missing

    def lines(self) -> list[str]:
        """Human-readable report, one check per line."""
        out = [f"{k}: {v}" for k, v in self.facts.items()]
        return out + [f"MISSING: {m}" for m in self.missing]


def sandbox_root(settings: SandboxSettings, data_dir: Path) -> Path:
    """Where sandboxes live on this host."""
    return (settings.root or data_dir / "sandboxes").expanduser().absolute()


def probe(settings: SandboxSettings, data_dir: Path, *, later: bool = False) -> ProbeReport:
    """Check the host for the configured runtime under `settings`. With `later` (the app's
    start-up), an `auto` agent that is not compiled yet is compiled in the background and
    the local runtime's first sandbox waits for it; `neo check` compiles in place."""
    report = ProbeReport(settings.runtime, sandbox_root(settings, data_dir))
    if settings.runtime == "kubernetes":  # pods on a cluster: nothing to check on this host
        try:
            from neo.sandbox.runtimes.kubernetes_probe import probe_kubernetes
        except ImportError:  # an optional dependency
            report.missing.append(KUBERNETES_MISSING)
            return report
        probe_kubernetes(report, settings)
        return report
    if settings.runtime == "docker":
        from neo.sandbox.runtimes.docker_probe import probe_docker

        if _check_root(report):
            _check_agent(report, settings.agent, static=True)
        probe_docker(report, settings)
        return report
    _check_tools(report)
    if os.geteuid() != 0:
        report.missing.append("root: the local runtime mounts workspaces and drops privileges")
    if _check_root(report):  # the agent is built under the root: never create an unusable one
        _check_agent(report, settings.agent, later=later)
    if settings.seccomp:
        problem = seccomp.available()
        report.facts["seccomp"] = problem or "pyseccomp filter exported as BPF"
        if problem:
            report.missing.append(problem)
    if settings.cgroups:
        report.cgroups, missing = detect(settings.cgroup_parent or "neo")
        version = report.cgroups.version if report.cgroups else "unusable"
        report.facts["cgroups"] = f"v{version}" if report.cgroups else "unusable"
        report.missing += missing
    if report.bwrap and report.setpriv and not report.missing:
        _check_namespaces(report, settings.uid_base)
    return report


def _check_tools(report: ProbeReport) -> None:
    report.bwrap = shutil.which("bwrap")
    report.setpriv = shutil.which("setpriv")
    if report.bwrap is None:
        report.missing.append("bubblewrap: `bwrap` not on PATH (apt-get install bubblewrap)")
    else:
        version = subprocess.run(
            [report.bwrap, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
        report.facts["bwrap"] = version.stdout.strip() or "unknown version"
    if report.setpriv is None:
        report.missing.append("setpriv: not on PATH (util-linux)")


def _check_agent(
    report: ProbeReport, choice: str, *, static: bool = False, later: bool = False
) -> None:
    """The native agent, built on first use (the compile happens here, in the probe's
    thread, or with `later` in a thread of its own), or the Python agent and why; containers
    (`static`) need a static binary, and bring their own python3."""
    cache = report.root / ".base"
    if later and choice == "auto" and agent_build.cached(cache) is None and agent_build.compiler():
        report.agent_pending = agent_build.resolve_later(choice, cache)
        report.facts["agent"] = "native, compiling (the first sandbox waits for it)"
        return
    try:
        report.agent, report.facts["agent"] = agent_build.resolve(choice, cache)
    except (AgentBuildFailed, OSError) as exc:
        report.missing.append(f"native agent (NEO_SANDBOX__AGENT=native): {exc}")
        return
    if static and report.agent is not None and not report.agent.static:
        if choice == "native":
            report.missing.append("native agent: containers need it statically linked")
        report.agent, report.facts["agent"] = None, "python (the native agent is not static)"
    if static:
        return
    if report.agent is None and not os.access(AGENT_PYTHON, os.X_OK):
        report.missing.append(f"{AGENT_PYTHON}: the in-sandbox agent's interpreter")


def _check_root(report: ProbeReport) -> bool:
    """Every ancestor of the root must let other users through (bwrap binds as them)."""
    path = report.root
    while not path.exists() and path != path.parent:
        path = path.parent
    for parent in [path, *path.parents]:
        if not parent.stat().st_mode & stat.S_IXOTH:
            report.missing.append(
                f"sandbox root {report.root}: {parent} is not searchable by other users "
                "(chmod o+x, or set NEO_SANDBOX__ROOT elsewhere)"
            )
            return False
    report.facts["root"] = str(report.root)
    return True


def _check_namespaces(report: ProbeReport, uid: int) -> None:
    """Run a throw-away sandbox: user, pid, net, ipc, uts and mount namespaces, only `lo`.
    One that does not finish in time is named missing: the worker starts without sandboxes
    rather than not at all."""
    assert report.bwrap
    assert report.setpriv
    args = [report.setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    args += ["--no-new-privs", report.bwrap, "--unshare-all", "--unshare-user"]
    args += ["--die-with-parent", "--ro-bind", "/usr", "/usr", "--proc", "/proc"]
    for name in ("lib", "lib64", "bin"):
        if Path(f"/{name}").is_symlink():
            args += ["--symlink", f"usr/{name}", f"/{name}"]
        elif Path(f"/{name}").is_dir():
            args += ["--ro-bind", f"/{name}", f"/{name}"]
    args += ["--cap-drop", "ALL", "/usr/bin/cat", "/proc/net/dev"]
    env = {"PATH": "/usr/bin:/bin"}
    done = None
    for _ in range(NAMESPACE_TRIES):
        done = _run_group(args, env, NAMESPACE_TIMEOUT)
        if done is not None:
            break
    if done is None:  # seen once in hundreds of runs: bwrap's two processes waiting on each other
        report.missing.append(
            f"namespaces: a throw-away sandbox did not finish within {NAMESPACE_TIMEOUT:g} s, "
            f"{NAMESPACE_TRIES} times (restart to probe again)"
        )
        return
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1:] or ["no output"]
        report.missing.append(f"namespaces: bwrap cannot create them here ({reason[0]})")
        return
    devices = [line.split(":")[0].strip() for line in done.stdout.splitlines() if ":" in line]
    if devices != ["lo"]:
        report.missing.append(f"network namespace: expected only lo, saw {devices}")
        return
    report.facts["namespaces"] = "user, pid, net (lo only), ipc, uts, mount"


def _run_group(
    args: list[str], env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str] | None:
    """Run `args` in a process group of its own; None when it did not finish in `timeout`
    seconds (the whole group killed: bwrap's sandboxed child would outlive its parent)."""
    with subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    ) as proc:  # fmt: skip
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return None
    return subprocess.CompletedProcess(args, proc.returncode, out, err)
