"""Command lines and host-side set-up for bubblewrap sandboxes: the bwrap arguments, the
cgroup-joining launcher (the native agent's `--launch`, else `sh` + `setpriv`), the shared base
files and the workspace tmpfs mount.

Layout under the sandbox root (every directory o+x so the unprivileged bwrap can bind it):
`.base/` (agent.py, the compiled native agent `neo-agent-<hash>`, and `etc/`: passwd, group,
hosts and copies of a few host files, bound as the sandbox's /etc in one mount) shared by all
sandboxes, and `<id>/workspace`
(a tmpfs of the sandbox's disk size, owned by its host uid) plus `<id>/agent.sock`.
"""

from __future__ import annotations

import ctypes
import functools
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

SANDBOX_UID = 1000  # the uid and gid code sees inside every sandbox
WORKSPACE = "/workspace"
AGENT_PATH = "/.neo/agent.py"
NATIVE_AGENT_PATH = "/.neo/agent"
TMP = "/tmp"  # noqa: S108 - the sandbox's own tmpfs, not the host's
SYSTEM_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
# Host /etc files copied into the shared base (one bind for all), and directories bound as they are.
ETC_COPIES = (
    "debian_version", "ld.so.cache", "ld.so.conf", "localtime", "mime.types", "nsswitch.conf",
    "os-release", "timezone",
)  # fmt: skip
ETC_DIRS = ("alternatives", "ssl", "ca-certificates")
BASE_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
# Joins the cgroups named before `--`, then becomes the rest of the command line: the sandbox
# is limited before any of its code runs.
LAUNCHER = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'
MS_NOSUID, MS_NODEV = 0x2, 0x4
MNT_DETACH = 0x2


def prepare_base(root: Path, agent_source: Path) -> Path:
    """Create the root and the shared base files; return the base directory."""
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o711)
    base = root / ".base"
    base.mkdir(exist_ok=True)
    base.chmod(0o755)
    files = {
        "passwd": f"sandbox:x:{SANDBOX_UID}:{SANDBOX_UID}:sandbox:{WORKSPACE}:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        "group": f"sandbox:x:{SANDBOX_UID}:\nnogroup:x:65534:\n",
        "hosts": "127.0.0.1\tlocalhost sandbox\n::1\tlocalhost ip6-localhost\n",
        "agent.py": agent_source.read_text("utf-8"),
    }
    etc = base / "etc"
    etc.mkdir(exist_ok=True)
    etc.chmod(0o755)
    for name in ETC_COPIES:
        host = Path("/etc") / name
        if host.is_file():
            _put(etc / name, host.read_bytes())
    for name in ("passwd", "group", "hosts"):
        _put(etc / name, files.pop(name).encode())
    for name in ETC_DIRS:
        (etc / name).mkdir(exist_ok=True)  # mount points for the host's directories
    _put(base / "agent.py", files["agent.py"].encode())
    return base


def _put(path: Path, data: bytes) -> None:
    """Write a world-readable file atomically, unless it already holds `data`."""
    if path.exists() and path.read_bytes() == data:
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o644)
    tmp.replace(path)


def bwrap_args(
    *,
    bwrap: str,
    base: Path,
    workspace: Path,
    tmp_bytes: int,
    env: Mapping[str, str],
    seccomp_fd: int | None,
    chdir: str = WORKSPACE,
    native_agent: Path | None = None,
    as_pid_1: bool = False,
) -> list[str]:
    """The bwrap command line up to (not including) the command to run inside. `as_pid_1`:
    the command is the pid namespace's init (it must reap orphans; when it exits, every
    process of the sandbox is killed), with no bwrap reaper process beside it."""
    args = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent"]
    args += ["--as-pid-1"] if as_pid_1 else []
    args += ["--new-session", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
    args += ["--hostname", "sandbox", "--ro-bind", "/usr", "/usr", *_system_binds()]
    args += ["--ro-bind", str(base / "etc"), "/etc"]
    for name in ETC_DIRS:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--perms", "1777", "--size", str(tmp_bytes), "--tmpfs", TMP]
    args += ["--bind", str(workspace), WORKSPACE, "--chdir", chdir]
    args += ["--ro-bind", str(base / "agent.py"), AGENT_PATH]
    if native_agent is not None:
        args += ["--ro-bind", str(native_agent), NATIVE_AGENT_PATH]
    args += ["--remount-ro", "/"]
    args += ["--cap-drop", "ALL"]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    args += ["--clearenv"]
    for key, value in sandbox_env(env).items():
        args += ["--setenv", key, value]
    return args


@functools.cache
def _system_binds() -> tuple[str, ...]:
    """The host's /bin, /lib… as binds or symlinks (the host layout is read once)."""
    args: list[str] = []
    for name in SYSTEM_DIRS:
        host = Path("/") / name
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            args += ["--ro-bind", str(host), f"/{name}"]
    return tuple(args)


def sandbox_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment every process in a sandbox starts with."""
    base = {"PATH": BASE_PATH, "HOME": WORKSPACE, "USER": "sandbox", "LANG": "C.UTF-8"}
    return base | {"TMPDIR": TMP} | dict(extra)


def launcher(
    procs_files: list[Path], uid: int, setpriv: str, native: Path | None = None
) -> list[str]:
    """The root-side prefix: join the cgroups, drop to `uid`, forbid new privileges (in one
    exec of the native agent's `--launch` mode when there is one, else sh + setpriv)."""
    if native is not None:
        return [str(native), "--launch", str(uid), *map(str, procs_files), "--"]
    prefix = ["/bin/sh", "-c", LAUNCHER, "sh", *map(str, procs_files), "--", setpriv]
    return [*prefix, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs"]


def memfd_with(data: bytes, name: str) -> int:
    """An anonymous file holding `data`, positioned at its start (for `bwrap --seccomp`)."""
    fd = os.memfd_create(name, 0)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)  # this process's libc; find_library runs ldconfig


def mount_workspace(path: Path, *, size_mb: int, uid: int) -> None:
    """Mount a tmpfs of `size_mb` on `path`, owned by `uid` (a no-op when already mounted)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.path.ismount(path):
        return
    inodes = max(4096, size_mb * 256)
    options = f"size={size_mb}m,nr_inodes={inodes},mode=0700,uid={uid},gid={uid}"
    flags = MS_NOSUID | MS_NODEV
    if _libc().mount(b"tmpfs", bytes(path), b"tmpfs", flags, options.encode()) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount tmpfs on {path}: {os.strerror(err)}")


def unmount_workspace(path: Path) -> None:
    """Detach the workspace tmpfs (its memory is freed with the last user)."""
    if os.path.ismount(path) and _libc().umount2(bytes(path), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"umount {path}: {os.strerror(err)}")


def remove_tree(path: Path) -> None:
    """Remove a sandbox directory, its workspace unmounted first."""
    unmount_workspace(path / "workspace")
    shutil.rmtree(path, ignore_errors=True)
