"""The real `neo` command as subprocesses: start one on a data dir and free loopback ports,
wait until it answers, stop it like Ctrl-C or a service manager would, and find anything it
left behind (its own processes and the embedded PostgreSQL's, which run as `neo-postgres`)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from neo.kit.net import free_port

# Variables that would point `neo` at something else than the test's data dir.
FOREIGN_ENV = ("DATABASE_URL", "JWT_SECRET")
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0


def neo_env(**extra: str) -> dict[str, str]:
    """The test process's environment without NEO settings, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith("NEO_") and k not in FOREIGN_ENV
    }
    env["PYTHONUNBUFFERED"] = "1"
    return env | extra


def run_neo(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> Result:
    """Run `neo ARGS` to completion; stdout and stderr together."""
    done = subprocess.run(
        [sys.executable, "-m", "neo", *args],
        cwd=cwd,  # away from the repo: `neo` reads `.env` from its working directory
        env=neo_env() if env is None else env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Result(done.returncode, done.stdout)


@dataclass(frozen=True)
class Result:
    """Exit code and output of one finished `neo` command."""

    code: int
    output: str

    @property
    def flat(self) -> str:
        """The output with runs of whitespace as one space (rich wraps long lines)."""
        return " ".join(self.output.split())


@dataclass
class Neo:
    """One `neo start` process and where it listens."""

    data_dir: Path
    port: int
    db_port: int
    process: subprocess.Popen[bytes]
    log: Path
    seen: dict[int, psutil.Process] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def summary(self, name: str) -> str:
        """A value from the start-up summary (`API URL`, `anon key`, ...)."""
        match = re.search(rf"^\s*{re.escape(name)}\s{{2,}}(\S+)\s*$", self.output, re.MULTILINE)
        assert match, f"{name!r} not in the summary:\n{self.output}"
        return match.group(1)

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Poll `/health` until 200; fail with the output if it exits or takes too long."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"neo exited with {self.process.returncode}:\n{self.output}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    self.remember_tree()
                    return
            time.sleep(0.05)
        raise AssertionError(f"neo was not ready in {timeout:.0f}s:\n{self.output}")

    def postmaster_pid(self) -> int | None:
        """Pid from the embedded server's `postmaster.pid`, while the file exists."""
        try:
            return int((self.data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def children(self) -> list[psutil.Process]:
        """Direct children of the `neo` process."""
        with contextlib.suppress(psutil.Error):
            children: list[psutil.Process] = psutil.Process(self.process.pid).children()
            return children
        return []

    def remember_tree(self) -> list[psutil.Process]:
        """Record (and return) neo and its descendants (the postmaster and its children too)."""
        tree: list[psutil.Process] = []
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(self.process.pid)
            tree = [proc, *proc.children(recursive=True)]
        self.seen |= {p.pid: p for p in tree}
        return tree

    def interrupt(self) -> None:
        """Ctrl-C: SIGINT to the whole foreground process group, as a terminal sends it."""
        self.remember_tree()
        os.killpg(self.process.pid, signal.SIGINT)

    def send(self, sig: signal.Signals) -> None:
        """Send `sig` to the `neo` process only (as `kill` or a service manager does)."""
        self.remember_tree()
        self.process.send_signal(sig)

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        """Exit code of `neo`."""
        return self.process.wait(timeout)

    def leftovers(self) -> list[psutil.Process]:
        """Live processes of this instance: recorded pids and anything naming the data dir."""
        return live(list(self.seen.values()), self.data_dir)

    def kill_all(self, *, sweep: bool = True) -> None:
        """Clean-up whatever the test did: SIGKILL every process of this instance (with
        `sweep`, also any process naming the data dir: not when another NEO shares it)."""
        self.remember_tree()
        with contextlib.suppress(OSError):
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        mine = list(self.seen.values())
        left = self.leftovers() if sweep else [p for p in mine if _running(p)]
        for proc in left:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(left, timeout=5)


def start_neo(data_dir: Path, *extra: str, env: dict[str, str] | None = None) -> Neo:
    """Spawn `neo start` on `data_dir` with free ports, in its own session (like a terminal)."""
    port, db_port = free_port(), free_port()
    log = data_dir.parent / f"{data_dir.name}-{port}.log"
    args = ["start", "--data-dir", str(data_dir), "--port", str(port), "--db-port", str(db_port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "neo", *args, *extra],
            cwd=data_dir.parent,
            env=neo_env() if env is None else env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Neo(data_dir, port, db_port, process, log)


@contextlib.contextmanager
def started(data_dir: Path, *extra: str) -> Iterator[Neo]:
    """A ready `neo start`; everything it spawned is killed afterwards, whatever happened."""
    neo = start_neo(data_dir, *extra)
    try:
        neo.wait_ready()
        yield neo
    finally:
        if neo.process.poll() is None:  # still up: stop it as a user would, then make sure
            neo.interrupt()
            with contextlib.suppress(subprocess.TimeoutExpired):
                neo.wait()
        neo.kill_all()


def live(procs: list[psutil.Process], data_dir: Path) -> list[psutil.Process]:
    """Processes among `procs`, or naming `data_dir` in their command line, that still run."""
    found = {p.pid: p for p in procs}
    for proc in psutil.process_iter(["cmdline"]):
        if str(data_dir) in " ".join(proc.info["cmdline"] or []):
            found[proc.pid] = proc
    return [p for p in found.values() if _running(p)]


def wait_gone(procs: list[psutil.Process], data_dir: Path, timeout: float) -> list[psutil.Process]:
    """Wait until none of those processes runs; the ones still running at the deadline."""
    deadline = time.monotonic() + timeout
    while (left := live(procs, data_dir)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def _running(proc: psutil.Process) -> bool:
    # is_running() also tells a reused pid from the process recorded under it.
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False
