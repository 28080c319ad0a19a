"""Control groups for local sandboxes: memory (swap equal), pids and CPU limits, usage, and
killing every process of a sandbox, on cgroup v2 (unified) and v1 (separate hierarchies).

Each sandbox gets `<mount>/<parent>/<name>` (per controller on v1). A process is placed in
the group by writing its pid to the `cgroup.procs` files (`procs_files`) before it runs any
sandbox code. Killing uses `cgroup.kill` on v2, and freeze + SIGKILL + thaw on v1.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from neo.sandbox.runtimes.base import Limits

CGROUP_ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("memory", "pids", "cpu", "freezer")
PERIOD_US = 100_000
_GONE = (errno.ENOENT, errno.ENODEV)  # a group that does not exist, or went while read


@dataclass(frozen=True)
class Cgroups:
    """The sandboxes' cgroups on this host: `version` 1 or 2, under `parent`."""

    version: int
    parent: str
    root: Path = CGROUP_ROOT

    def _dirs(self, name: str) -> list[Path]:
        if self.version == 2:
            return [self.root / self.parent / name]
        return [self.root / c / self.parent / name for c in V1_CONTROLLERS]

    def _dir(self, controller: str, name: str) -> Path:
        base = self.root if self.version == 2 else self.root / controller
        return base / self.parent / name

    def create(self, name: str, limits: Limits) -> None:
        """Create the group (idempotent) and set its limits (plain os calls: this is on every
        sandbox's create path)."""
        if self.version == 2:
            self._enable_v2_controllers()
        for path in self._dirs(name):
            try:
                os.mkdir(path)
            except FileExistsError:
                pass
            except FileNotFoundError:  # the first sandbox: the parent is made too
                os.makedirs(path, exist_ok=True)
        memory = limits.memory_mb << 20
        quota = max(1000, int(limits.cpus * PERIOD_US))
        if self.version == 2:
            d = f"{self.root}/{self.parent}/{name}"
            _write(f"{d}/memory.max", memory)
            with contextlib.suppress(FileNotFoundError):  # absent without swap accounting
                _write(f"{d}/memory.swap.max", 0)
            _write(f"{d}/pids.max", limits.pids)
            _write(f"{d}/cpu.max", f"{quota} {PERIOD_US}")
            return
        mem = self._dir("memory", name)
        _write(mem / "memory.limit_in_bytes", memory)
        with contextlib.suppress(FileNotFoundError):  # absent without swap accounting
            _write(mem / "memory.memsw.limit_in_bytes", memory)
        _write(self._dir("pids", name) / "pids.max", limits.pids)
        cpu = self._dir("cpu", name)
        _write(cpu / "cpu.cfs_period_us", PERIOD_US)
        _write(cpu / "cpu.cfs_quota_us", quota)

    def _enable_v2_controllers(self) -> None:
        parts = Path(self.parent).parts
        for depth in range(len(parts)):
            here = self.root.joinpath(*parts[:depth])
            (self.root.joinpath(*parts[: depth + 1])).mkdir(exist_ok=True)
            _write(here / "cgroup.subtree_control", "+memory +pids +cpu")
        _write(self.root / self.parent / "cgroup.subtree_control", "+memory +pids +cpu")

    def rename(self, old: str, new: str) -> None:
        """Give a group another name, its processes in it (v1 renames the directories; v2,
        which refuses that, gets a new group, the processes moved, the old one removed)."""
        pairs = list(zip(self._dirs(old), self._dirs(new), strict=True))
        try:
            for before, after in pairs:
                os.rename(before, after)
            return
        except OSError:
            if pairs and pairs[0][1].exists():
                raise  # a half-renamed v1 group: not something to paper over
        for _, after in pairs:
            os.makedirs(after, exist_ok=True)
        for pid in self.pids(old):
            for procs in self.procs_files(new):
                with contextlib.suppress(ProcessLookupError):
                    _write(procs, pid)
        for before, _ in pairs:
            before.rmdir()

    def procs_files(self, name: str) -> list[Path]:
        """The files a process writes its pid to, to join the group."""
        return [d / "cgroup.procs" for d in self._dirs(name)]

    def pids(self, name: str) -> list[int]:
        """Processes in the group (empty when it does not exist)."""
        try:
            text = (self._dir("pids", name) / "cgroup.procs").read_text()
        except OSError as exc:
            if exc.errno in _GONE:  # no such group, or removed while being read
                return []
            raise
        return [int(p) for p in text.split()]

    def memory_bytes(self, name: str) -> int | None:
        """Memory charged to the group now."""
        d = self._dir("memory", name)
        file = "memory.current" if self.version == 2 else "memory.usage_in_bytes"
        with contextlib.suppress(OSError, ValueError):
            return int((d / file).read_text())
        return None

    def names(self) -> list[str]:
        """Every sandbox group under the parent."""
        base = self._dir("pids", "")
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if p.is_dir())

    def kill(self, name: str, *, timeout: float = 5.0) -> None:
        """Kill every process in the group and wait until it is empty."""
        kill_file = self._dir("", name) / "cgroup.kill"
        if self.version == 2 and kill_file.exists():  # kernel >= 5.14
            _write(kill_file, 1)
        elif self.version == 1:
            self._kill_v1(name)
        else:
            self._kill_each(name)
        deadline = time.monotonic() + timeout
        while self.pids(name) and time.monotonic() < deadline:
            time.sleep(0.005)

    def _kill_v1(self, name: str) -> None:
        freezer = self._dir("freezer", name) / "freezer.state"
        try:
            _write(freezer, "FROZEN")
            for _ in range(200):  # a frozen group cannot fork while we kill it
                if freezer.read_text().strip() == "FROZEN":
                    break
                time.sleep(0.002)
            self._kill_each(name)
            _write(freezer, "THAWED")
        except OSError as exc:
            if exc.errno not in _GONE:  # a group another deletion removed meanwhile is done
                raise

    def _kill_each(self, name: str) -> None:
        for pid in self.pids(name):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def remove(self, name: str) -> None:
        """Kill what is left, then remove the group (retrying while the kernel is busy)."""
        self.kill(name)
        for path in self._dirs(name):
            for _ in range(100):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        raise
                    time.sleep(0.01)


def _write(path: Path | str, value: object) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, str(value).encode())
    finally:
        os.close(fd)


def detect(parent: str, root: Path = CGROUP_ROOT) -> tuple[Cgroups | None, list[str]]:
    """The host's usable cgroups for sandboxes, or None and what is missing."""
    if (root / "cgroup.controllers").exists():
        have = set((root / "cgroup.controllers").read_text().split())
        missing = [f"cgroup v2 controller {c}" for c in ("memory", "pids", "cpu") if c not in have]
        writable = os.access(root, os.W_OK)
        if not writable:
            missing.append(f"write access to {root} (cgroup delegation)")
        return (Cgroups(2, parent, root) if not missing else None), missing
    missing = [
        f"cgroup v1 controller {c}" for c in V1_CONTROLLERS if not (root / c / "tasks").exists()
    ]
    if not missing and not os.access(root / "memory", os.W_OK):
        missing.append(f"write access to {root}/memory")
    return (Cgroups(1, parent, root) if not missing else None), missing
