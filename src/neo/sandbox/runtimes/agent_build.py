"""The native agent (`agent_c/`: the protocol of `agent.py` in C, and `launch.c`, the
host-side start of a sandbox in the same binary): compiled on first use with the host's C
compiler into a cache keyed by the sources' hash, statically linked when the toolchain can,
and chosen by `NEO_SANDBOX__AGENT` (`auto` falls back to the Python agent, saying why;
`native` refuses to run without it; `python` never compiles).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

SOURCE_DIR = Path(__file__).with_name("agent_c")
HARDENING = (
    "-O2", "-D_FORTIFY_SOURCE=2", "-fstack-protector-strong", "-fstack-clash-protection",
    "-Wl,-z,relro,-z,now", "-Wl,-z,noexecstack",
)  # fmt: skip
# Tried in turn: a static binary serves any root filesystem (containers too); a dynamic one
# needs the host's libc, which the local runtime binds read-only anyway.
LINKS = (("-static-pie", "-fPIE"), ("-static",), ("-fPIE", "-pie"))
COMPILE_TIMEOUT = 120.0
USAGE_EXIT = 2  # the agent run without arguments: its usage line, and this code


@dataclass(frozen=True)
class NativeAgent:
    """A compiled agent binary and whether it is statically linked."""

    path: Path
    static: bool

    def describe(self) -> str:
        """For `neo check` and the logs."""
        return f"native ({'static' if self.static else 'dynamic'}, {self.path})"


class AgentBuildFailed(Exception):
    """The native agent cannot be built here (no compiler, or it failed)."""


def compiler() -> str | None:
    """The C compiler on PATH (`cc`, else `gcc`)."""
    return shutil.which("cc") or shutil.which("gcc")


def digest() -> str:
    """The cache key: a hash of the sources."""
    sha = hashlib.sha256()
    for source in sorted(SOURCE_DIR.glob("*.[ch]")):
        sha.update(source.name.encode() + b"\0" + source.read_bytes())
    return sha.hexdigest()[:16]


def cached(cache: Path) -> NativeAgent | None:
    """The binary built from this source earlier, if any."""
    key = digest()
    for static, name in ((True, f"neo-agent-{key}-static"), (False, f"neo-agent-{key}")):
        if (cache / name).is_file():
            return NativeAgent(cache / name, static)
    return None


def build(cache: Path) -> NativeAgent:
    """The native agent for this source, compiled into `cache` when not there yet, and
    checked to run from there (a `noexec` mount would stop every sandbox from starting)."""
    agent = cached(cache) or _compile(cache)
    try:
        ran = subprocess.run([agent.path], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AgentBuildFailed(f"{agent.path} does not run: {exc}") from None
    if ran.returncode != USAGE_EXIT:
        raise AgentBuildFailed(f"{agent.path} does not run (exit {ran.returncode})")
    return agent


def _compile(cache: Path) -> NativeAgent:
    cc = compiler()
    if cc is None:
        raise AgentBuildFailed("no C compiler (cc or gcc) on PATH")
    cache.mkdir(parents=True, exist_ok=True)
    errors = []
    for link in LINKS:
        static = link[0].startswith("-static")
        target = cache / f"neo-agent-{digest()}{'-static' if static else ''}"
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        argv = [cc, *HARDENING, *link, "-o", str(tmp), *map(str, sorted(SOURCE_DIR.glob("*.c")))]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=COMPILE_TIMEOUT, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise AgentBuildFailed(f"{cc}: {exc}") from None
        if done.returncode == 0:
            tmp.chmod(0o755)
            tmp.replace(target)  # atomic: concurrent builders leave one complete binary
            _forget_older(cache, keep=target)
            return NativeAgent(target, static)
        tmp.unlink(missing_ok=True)
        errors.append(done.stderr.strip().splitlines()[-1:] or ["failed"])
    raise AgentBuildFailed(f"{cc} failed: {errors[-1][0]}")


def _forget_older(cache: Path, *, keep: Path) -> None:
    """Remove binaries of earlier sources (running sandboxes keep theirs: it is bound)."""
    for old in cache.glob("neo-agent-*"):
        if old != keep and not old.name.endswith(".tmp"):
            old.unlink(missing_ok=True)


def resolve_later(choice: str, cache: Path) -> Future[tuple[NativeAgent | None, str]]:
    """`resolve` in a thread of its own, for a start-up that must not wait for the compiler
    (~1.3 s of CPU); any failure means the Python agent, as `auto` decides."""
    pending: Future[tuple[NativeAgent | None, str]] = Future()

    def run() -> None:
        try:
            pending.set_result(resolve(choice, cache))
        except Exception as exc:  # an unwritable cache, a compiler that crashed
            pending.set_result((None, f"python (native agent unavailable: {exc})"))

    threading.Thread(target=run, name="neo-agent-build", daemon=True).start()
    return pending


def resolve(choice: str, cache: Path) -> tuple[NativeAgent | None, str]:
    """The agent to run for setting `choice` (native, python, auto) and a line saying which and
    why; raises AgentBuildFailed when `native` is required and cannot be built."""
    if choice == "python":
        return None, "python (NEO_SANDBOX__AGENT=python)"
    try:
        agent = build(cache)
    except AgentBuildFailed as exc:
        if choice == "native":
            raise
        return None, f"python (native agent unavailable: {exc})"
    return agent, agent.describe()
