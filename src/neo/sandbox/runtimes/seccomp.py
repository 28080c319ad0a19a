"""The seccomp filter of local sandboxes, built with pyseccomp and exported as BPF for
`bwrap --seccomp FD` (no `preexec_fn` in a threaded server; sandbox.md §2.5).

Default allow; EPERM for IP, netlink and packet sockets (the netns already has no route: this
is a second wall), for namespace and mount calls, ptrace, BPF, keyrings, module and reboot
calls; `clone3` answers ENOSYS so libc falls back to `clone`, whose namespace flags are refused.
"""

from __future__ import annotations

import errno
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


def build_filter() -> Any:
    """The filter object (pyseccomp.SyscallFilter)."""
    sc = _module()
    filt = sc.SyscallFilter(sc.ALLOW)
    eperm = sc.ERRNO(errno.EPERM)
    for family in DENIED_FAMILIES:
        filt.add_rule(eperm, "socket", sc.Arg(0, sc.EQ, family))
    for name in DENIED_SYSCALLS:
        filt.add_rule(eperm, name)
    for flag in NAMESPACE_FLAGS:
        filt.add_rule(eperm, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    filt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    return filt


def export_bpf() -> bytes:
    """The filter as the BPF program bwrap loads."""
    with tempfile.TemporaryFile() as out:
        build_filter().export_bpf(out)
        out.seek(0)
        return out.read()


def available() -> str | None:
    """None when filters can be built here; otherwise why not."""
    try:
        export_bpf()
    except (ImportError, OSError, RuntimeError, ValueError) as exc:
        return f"seccomp: {type(exc).__name__}: {exc}"
    return None
