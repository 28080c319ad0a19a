"""Sandbox: isolated code execution for agents, under `/sandbox/v1` (NEO's native API and
error shape `{code, message, request_id}`).

Owns the `neo_sandbox` schema (`sandboxes`: an organization's when `org_id` is set, with
rights from the caller's role and permissions there through identity's SQL helpers; else
owner = the caller's JWT `sub`, or null for the service role; RLS decides, decision 0011)
and the sandboxes on this host. Every action is appended to identity's audit log by
`audit.py`, in batches off the request path. The `local`
runtime (`runtimes/local.py`) runs each sandbox under bubblewrap: user, pid, net (loopback
only), ipc, uts and mount namespaces, read-only system directories, a tmpfs workspace of the
sandbox's disk size under `<data_dir>/sandboxes/<id>/workspace`, no capabilities,
no-new-privileges, a seccomp filter and cgroup limits (v1 or v2); `pool.py` keeps a warm pool
of started sandboxes when configured. An in-sandbox agent (native C as the local sandbox's
pid 1, `runtimes/agent_c/`, else `runtimes/agent.py`) serves exec, background commands
(`commands.py`; shell sessions on top of exec: `sessions.py`), terminals (`pty_routes.py`, a
WebSocket) and connections to ports inside (`preview.py`: preview URLs, with
`loopback_ports`) over a Unix socket. The `docker` runtime
(`runtimes/containers.py`) runs the same agent in one hardened container per sandbox (no
capabilities, no-new-privileges, the same seccomp rules, read-only root, network `none`,
limits) with the same host-side workspace. Egress allow-lists (`runtimes/egress.py`) go
through a filtering proxy NEO serves on the sandbox's own loopback (`runtimes/egress_proxy.py`);
the namespace still has no route out.
`probe(settings, data_dir)` reports what isolation the host offers; sandboxes are refused,
naming what is missing, when it is less than configured. A Kubernetes runtime implements the
same `runtimes.base.Runtime` Protocol later.
"""

from pathlib import Path

from neo.core.migrations import MigrationSource
from neo.sandbox.lifecycle import start
from neo.sandbox.router import PREFIX, router
from neo.sandbox.runtimes.probe import ProbeReport, probe
from neo.sandbox.service import Sandboxes
from neo.sandbox.settings import SandboxLimits, SandboxSettings

MIGRATIONS = MigrationSource("sandbox", Path(__file__).with_name("migrations"))

__all__ = [
    "MIGRATIONS",
    "PREFIX",
    "ProbeReport",
    "SandboxLimits",
    "SandboxSettings",
    "Sandboxes",
    "probe",
    "router",
    "start",
]
