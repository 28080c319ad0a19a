"""The escape suite: code inside a sandbox tries to get out, and stays contained, on every
runtime: local (real bubblewrap sandboxes on this host: namespaces, cgroups, seccomp, tmpfs
quotas) and docker (real hardened containers on a private dockerd).

Each test bounds its own time.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from neo.sandbox.lifecycle import build_runtime
from neo.sandbox.runtimes.base import Runtime, SandboxSpec
from neo.sandbox.runtimes.containers import DockerRuntime
from neo.sandbox.runtimes.local import LocalRuntime
from neo.sandbox.runtimes.probe import probe
from neo.sandbox.settings import SandboxSettings
from tests.sandbox.conftest import SLOTS, SMALL, MakeSandbox, run


@pytest.fixture(scope="module", params=["local", "docker"])
def runtime(request: pytest.FixtureRequest) -> Runtime:
    """Each test runs once per runtime."""
    chosen: Runtime = request.getfixturevalue(f"{request.param}_runtime")
    return chosen


async def test_host_secrets_and_data_dirs_are_invisible(
    runtime: Runtime, make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    spec = await make_sandbox()
    secret = tmp_path / "neo-data-secret"
    secret.write_text("host secret")
    for path in [
        "/etc/shadow",
        "/root",
        str(secret),
        str(runtime.files_root(spec.id).parent.parent),
        "/work",
        "/proc/1/root/etc/shadow",
    ]:
        result = await run(runtime, spec, f"cat {path} || ls {path}")
        assert result.exit_code != 0, f"{path} is visible: {result.stdout[:200]}"
        assert "host secret" not in result.stdout


async def test_other_sandboxes_files_are_invisible(
    runtime: Runtime, make_sandbox: MakeSandbox
) -> None:
    one, other = await make_sandbox(), await make_sandbox()
    await run(runtime, other, "echo private > /workspace/secret.txt")
    host_path = runtime.files_root(other.id) / "secret.txt"
    assert await asyncio.to_thread(host_path.read_text) == "private\n"
    result = await run(runtime, one, f"cat {host_path}; find / -name secret.txt 2>/dev/null")
    assert "private" not in result.stdout
    assert "secret.txt" not in result.stdout


async def test_system_directories_are_read_only(
    runtime: Runtime, make_sandbox: MakeSandbox
) -> None:
    spec = await make_sandbox()
    for target in ["/usr/evil", "/etc/evil", "/bin/evil", "/evil", "/proc/sys/kernel/evil"]:
        result = await run(runtime, spec, f"echo x > {target}")
        assert result.exit_code != 0, target
        assert not await asyncio.to_thread(Path(target).exists)
    ok = await run(runtime, spec, "echo x > /workspace/ok && echo y > /tmp/ok && echo done")
    assert ok.stdout == "done\n"


async def test_network_is_denied_even_to_host_loopback(
    runtime: Runtime, make_sandbox: MakeSandbox
) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        spec = await make_sandbox()
        probe = (
            'python3 -c "import socket; s = socket.socket(); s.settimeout(2); '
            f"s.connect(('127.0.0.1', {port})); print('connected')\""
        )
        result = await run(runtime, spec, probe)
        assert result.exit_code != 0
        assert "connected" not in result.stdout
        assert "Operation not permitted" in result.stderr  # seccomp: no IP sockets at all
        devices = await run(runtime, spec, "cat /proc/net/dev")
        names = [line.split(":")[0].strip() for line in devices.stdout.splitlines() if ":" in line]
        assert names == ["lo"]  # and the netns has nothing but its own loopback
    finally:
        server.close()


async def test_without_seccomp_the_network_namespace_alone_refuses(
    sandbox_settings: SandboxSettings,
) -> None:
    settings = sandbox_settings.model_copy(update={"seccomp": False})
    runtime = build_runtime(settings, probe(settings, Path("/nonexistent")))
    assert isinstance(runtime, LocalRuntime)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    spec = SandboxSpec(str(uuid.uuid4()), next(SLOTS), SMALL)
    try:
        await runtime.start(spec)
        port = server.getsockname()[1]
        connect = (
            'python3 -c "import socket; s = socket.socket(); s.settimeout(2); '
            f"s.connect(('127.0.0.1', {port}))\""
        )
        result = await run(runtime, spec, connect)
        assert "Connection refused" in result.stderr  # its own loopback, nothing listening
        route = await run(runtime, spec, connect.replace("127.0.0.1", "192.0.2.1"))
        assert "Network is unreachable" in route.stderr  # no route out at all
    finally:
        server.close()
        await runtime.delete(spec.id)


async def test_fork_bomb_hits_the_pids_limit_and_the_sandbox_stays_killable(
    runtime: Runtime, make_sandbox: MakeSandbox
) -> None:
    spec = await make_sandbox(pids=32)
    bomb = asyncio.create_task(run(runtime, spec, "f(){ f|f & }; f; sleep 3", seconds=3))
    peak = 0
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        peak = max(peak, len(await asyncio.to_thread(runtime.host_pids, spec.id)))
        await asyncio.sleep(0.05)
    assert 0 < peak <= 32
    host_started = time.monotonic()
    await asyncio.to_thread(subprocess.run, ["true"], check=True)  # the host still forks
    assert time.monotonic() - host_started < 1
    started = time.monotonic()
    await runtime.stop(spec.id)
    assert runtime.host_pids(spec.id) == []
    assert time.monotonic() - started < 5
    bomb.cancel()
    await asyncio.gather(bomb, return_exceptions=True)


async def test_memory_bomb_is_oom_killed(runtime: Runtime, make_sandbox: MakeSandbox) -> None:
    spec = await make_sandbox(memory_mb=64)
    bomb = 'python3 -c "x = []\nwhile True: x.append(bytearray(8 << 20))"'
    result = await run(runtime, spec, bomb, seconds=20)
    assert result.exit_code == 137  # SIGKILL from the OOM killer
    assert not result.timed_out
    after = await run(runtime, spec, "echo alive")
    assert after.stdout == "alive\n"  # the sandbox (its agent) survives its command


async def test_cpu_hog_is_throttled(runtime: Runtime, make_sandbox: MakeSandbox) -> None:
    spec = await make_sandbox(cpus=0.2)
    hog = (
        'python3 -c "import time\nend = time.time() + 1.5\n'
        'while time.time() < end: pass\nprint(time.process_time())"'
    )
    result = await run(runtime, spec, hog)
    assert result.exit_code == 0
    assert float(result.stdout) < 0.75  # 0.2 CPU for 1.5 s of wall time, with slack


async def test_host_and_other_sandboxes_processes_are_invisible_and_unsignallable(
    runtime: Runtime, make_sandbox: MakeSandbox
) -> None:
    one, other = await make_sandbox(), await make_sandbox()
    victims = [*runtime.host_pids(other.id), os.getpid(), 1]
    assert len(victims) > 2
    listing = await run(runtime, one, "ls /proc | grep -E '^[0-9]+$' | wc -l")
    assert int(listing.stdout) <= 6  # bwrap's init, the agent, this shell and its children
    for pid in victims:
        result = await run(runtime, one, f"kill -9 {pid}")
        assert result.exit_code != 0 or pid == 1
    assert (await run(runtime, other, "echo alive")).stdout == "alive\n"
    assert await asyncio.to_thread(Path(f"/proc/{os.getpid()}").exists)


async def test_ptrace_mount_and_unshare_are_refused(
    runtime: Runtime, make_sandbox: MakeSandbox
) -> None:
    spec = await make_sandbox()
    ptrace = (
        'python3 -c "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n'
        'print(libc.ptrace(16, os.getppid(), 0, 0), ctypes.get_errno())"'
    )
    traced = await run(runtime, spec, ptrace)
    assert traced.stdout.split() == ["-1", "1"]  # EPERM
    for command in [
        "mount -t tmpfs none /tmp",
        "unshare -r id",
        "unshare -n id",
        'python3 -c "import os; os.unshare(os.CLONE_NEWUSER)"',
        "chroot / id",
    ]:
        result = await run(runtime, spec, command)
        assert result.exit_code != 0, command


async def test_setuid_binaries_cannot_raise_privileges(
    runtime: Runtime, make_sandbox: MakeSandbox
) -> None:
    spec = await make_sandbox()
    status = await run(runtime, spec, "grep -E 'NoNewPrivs|CapEff|CapBnd' /proc/self/status")
    assert "NoNewPrivs:\t1" in status.stdout
    assert "CapEff:\t0000000000000000" in status.stdout
    inside_uid = "1000" if isinstance(runtime, LocalRuntime) else str(runtime.owner_uid(spec))
    if isinstance(runtime, LocalRuntime):
        uid_map = await run(runtime, spec, "cat /proc/self/uid_map")
        assert uid_map.stdout.split()[:1] == ["1000"]  # root is not mapped at all
        assert len(uid_map.stdout.strip().splitlines()) == 1
        mounts = await run(runtime, spec, "grep ' /usr ' /proc/self/mountinfo")
        assert "nosuid" in mounts.stdout
    else:  # a setuid-root copy of a shell, made by the sandbox's own hand, cannot be one
        made = await run(runtime, spec, "cp /bin/busybox /workspace/sh && chmod 4755 /workspace/sh")
        assert made.exit_code == 0
        host_copy = runtime.files_root(spec.id) / "sh"
        await asyncio.to_thread(os.chown, host_copy, 0, 0)  # even if the host made it root's
        await asyncio.to_thread(os.chmod, host_copy, 0o4755)
        escalated = await run(runtime, spec, "/workspace/sh -c 'id -u'")
        assert escalated.stdout.strip() == inside_uid  # nosuid workspace + no-new-privileges
    su = await run(
        runtime, spec, "su -c 'id -u' root </dev/null; /usr/bin/newgrp root </dev/null; id -u"
    )
    assert su.stdout.strip().splitlines()[-1] == inside_uid


async def test_filling_the_disk_stops_at_the_quota(
    runtime: Runtime, make_sandbox: MakeSandbox
) -> None:
    spec = await make_sandbox(disk_mb=8)
    result = await run(runtime, spec, "dd if=/dev/zero of=/workspace/big bs=1M count=32")
    assert result.exit_code != 0
    assert "No space left" in result.stderr
    assert (runtime.files_root(spec.id) / "big").stat().st_size <= 8 << 20
    tmp = await run(runtime, spec, "dd if=/dev/zero of=/tmp/big bs=1M count=200")
    assert "No space left" in tmp.stderr  # /tmp is a tmpfs of `tmp_mb`


def _state(pid: int) -> str | None:
    """A process's state letter, None when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return status.split("State:", 1)[1].split()[0]


async def test_stopped_sandbox_leaves_no_process_and_delete_leaves_no_trace(
    runtime: Runtime, make_sandbox: MakeSandbox
) -> None:
    spec = await make_sandbox()
    await run(runtime, spec, "sleep 100 >/dev/null 2>&1 & echo started")
    pids = runtime.host_pids(spec.id)
    assert pids
    await runtime.delete(spec.id)
    assert runtime.host_pids(spec.id) == []
    left = {pid: _state(pid) for pid in pids}
    assert set(left.values()) <= {None, "Z"}, left
    if isinstance(runtime, LocalRuntime):
        assert runtime.cgroups is not None
        assert spec.id not in runtime.cgroups.names()
    else:
        assert isinstance(runtime, DockerRuntime)
        assert not runtime.client.containers.list(all=True, filters={"name": spec.id})
    assert not runtime.files_root(spec.id).parent.exists()
