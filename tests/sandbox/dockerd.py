"""A real Docker daemon for the docker runtime's tests: Debian's `dockerd` started with its
data, exec root and socket in a temporary directory (no bridge, no iptables: sandboxes use no
network), stopped and cleaned up afterwards. Nothing of the host's own Docker is touched."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

START_SECONDS = 60.0


class DaemonUnavailable(RuntimeError):
    """dockerd could not start here; the message holds its log's end."""


def _answers(host: str) -> bool:
    """Whether the daemon answers `GET /_ping` (a raw request: the SDK leaks the socket of a
    refused connection)."""
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(host.removeprefix("unix://"))
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return sock.recv(4096).startswith(b"HTTP/1.0 200")
    except OSError:
        return False


def _unmount_under(path: Path) -> None:
    """Detach mounts a killed daemon left under `path` (overlays, shm)."""
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    targets = [line.split()[1] for line in mounts if line.split()[1].startswith(str(path))]
    for target in sorted(targets, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], check=False, capture_output=True)


@contextlib.contextmanager
def running_dockerd(dockerd: str) -> Iterator[str]:
    """Start a private dockerd; yield its `unix://` host; stop it and remove its state."""
    home = Path(tempfile.mkdtemp(prefix="neo-dockerd-", dir="/tmp"))
    host = f"unix://{home}/docker.sock"
    args = [dockerd, "--data-root", str(home / "data"), "--exec-root", str(home / "exec")]
    args += ["-H", host, "--pidfile", str(home / "docker.pid"), "--bridge=none"]
    args += ["--iptables=false", "--ip6tables=false", "--ip-masq=false"]
    namespace = f"neo-test-{uuid.uuid4().hex[:12]}"  # containerd's names: [A-Za-z0-9] and [._-]
    args += ["--containerd-namespace", namespace]
    args += ["--containerd-plugins-namespace", f"{namespace}-plugins"]
    with (home / "dockerd.log").open("wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + START_SECONDS
        while not _answers(host):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (home / "dockerd.log").read_text(errors="replace")[-2000:]
                raise DaemonUnavailable(f"dockerd did not start (exit {proc.poll()}): {tail}")
            time.sleep(0.2)
        yield host
    finally:
        _stop(proc)
        _unmount_under(home)
        shutil.rmtree(home, ignore_errors=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # dockerd and the containerd it started
            proc.wait(10)
