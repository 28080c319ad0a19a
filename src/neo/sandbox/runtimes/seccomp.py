"""The seccomp filter of sandboxes: built with pyseccomp and exported as BPF for
`bwrap --seccomp FD` (no `preexec_fn` in a threaded server; sandbox.md §2.5), and the same
rules as a Docker seccomp profile (JSON) for the docker runtime.

Default allow; EPERM for IP, netlink and packet sockets (the netns already has no route: this
is a second wall; IP sockets are allowed with `loopback_ports`, for preview URLs), for
namespace and mount calls, ptrace, BPF, keyrings, module and reboot calls; `clone3` answers
ENOSYS so libc falls back to `clone`, whose namespace flags are refused.
"""

from __future__ import annotations

import errno
import json
import socket
import tempfile
from typing import Any

DENIED_SYSCALLS = (
    "ptrace", "process_vm_readv", "process_vm_writev", "io_uring_setup", "bpf",
    "perf_event_open", "keyctl", "add_key", "request_key", "unshare", "setns", "mount",
    "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsmount",
    "fspick", "mount_setattr", "kexec_load", "kexec_file_load", "init_module",
    "finit_module", "delete_module", "swapon", "swapoff", "reboot", "open_by_handle_at",
    "userfaultfd", "acct", "quotactl", "lookup_dcookie", "syslog", "vhangup",
)  # fmt: skip
DENIED_FAMILIES = (socket.AF_INET, socket.AF_INET6, socket.AF_NETLINK, socket.AF_PACKET)
NAMESPACE_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
)


def _module() -> Any:
    import pyseccomp  # type: ignore[import-untyped]  # libseccomp loads here, not at import

    return pyseccomp


def _families(loopback_ports: bool) -> tuple[int, ...]:
    """Socket families refused; IP ones stay allowed when sandboxes may serve ports on their
    own loopback (the network namespace has no route out either way)."""
    ip = (socket.AF_INET, socket.AF_INET6)
    return tuple(f for f in DENIED_FAMILIES if not (loopback_ports and f in ip))


def build_filter(*, loopback_ports: bool = False) -> Any:
    """The filter object (pyseccomp.SyscallFilter)."""
    sc = _module()
    filt = sc.SyscallFilter(sc.ALLOW)
    eperm = sc.ERRNO(errno.EPERM)
    for family in _families(loopback_ports):
        filt.add_rule(eperm, "socket", sc.Arg(0, sc.EQ, family))
    for name in DENIED_SYSCALLS:
        filt.add_rule(eperm, name)
    for flag in NAMESPACE_FLAGS:
        filt.add_rule(eperm, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    filt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    return filt


def docker_profile(*, loopback_ports: bool = False) -> str:
    """The same filter as a Docker seccomp profile (`--security-opt seccomp=<json>`)."""

    def deny(name: str, errno_ret: int = errno.EPERM, **arg: int | str) -> dict[str, Any]:
        rule: dict[str, Any] = {"names": [name], "action": "SCMP_ACT_ERRNO"}
        return rule | {"errnoRet": errno_ret} | ({"args": [arg]} if arg else {})

    families = _families(loopback_ports)
    rules = [deny("socket", index=0, value=f, valueTwo=0, op="SCMP_CMP_EQ") for f in families]
    rules.append({"names": list(DENIED_SYSCALLS), "action": "SCMP_ACT_ERRNO", "errnoRet": 1})
    for flag in NAMESPACE_FLAGS:
        rules.append(deny("clone", index=0, value=flag, valueTwo=flag, op="SCMP_CMP_MASKED_EQ"))
    rules.append(deny("clone3", errno.ENOSYS))
    return json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules})


def export_bpf(*, loopback_ports: bool = False) -> bytes:
    """The filter as the BPF program bwrap loads."""
    with tempfile.TemporaryFile() as out:
        build_filter(loopback_ports=loopback_ports).export_bpf(out)
        out.seek(0)
        return out.read()


def available() -> str | None:
    """None when filters can be built here; otherwise why not."""
    try:
        export_bpf()
    except (ImportError, OSError, RuntimeError, ValueError) as exc:
        return f"seccomp: {type(exc).__name__}: {exc}"
    return None
