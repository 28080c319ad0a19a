"""Shared by the benchmarks: server child processes and the CPU time processes spend.

`child` starts a server and yields its pid once a probe URL answers; `cpu_seconds` reads the
user + system CPU of processes and their descendants, so a bench can say where the CPU of
a case went (server, PostgreSQL, load generator); `postmasters` finds the PostgreSQL to
account for.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil


@contextmanager
def child(
    cmd: list[str],
    env: dict[str, str],
    cwd: Path,
    probe: str,
    headers: dict[str, str] | None = None,
) -> Iterator[int]:
    """A server child process (its pid), ready when `probe` answers below 500 (2 min at most)."""
    proc = subprocess.Popen(cmd, env=env, cwd=cwd)
    try:
        for _ in range(1200):
            try:
                if httpx.get(probe, headers=headers).status_code < 500:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def cpu_seconds(roots: list[int]) -> dict[int, float]:
    """User + system CPU seconds of each process under `roots` (themselves included), by pid."""
    seconds = {}
    for root in roots:
        try:
            proc = psutil.Process(root)
            procs = [proc, *proc.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for p in procs:
            try:
                t = p.cpu_times()
            except psutil.NoSuchProcess:
                continue
            seconds[p.pid] = t.user + t.system
    return seconds


def postmasters(marker: str) -> list[int]:
    """The PostgreSQL server(s) to account for: the one whose command line names `marker`
    (the embedded server's directory), else every postmaster on the machine."""
    roots = []
    for p in psutil.process_iter(["name", "cmdline"]):
        try:
            parent = p.parent()
        except psutil.NoSuchProcess:
            continue
        if p.info["name"] == "postgres" and (parent is None or parent.name() != "postgres"):
            roots.append((p.pid, " ".join(p.info["cmdline"] or [])))
    return [pid for pid, cmd in roots if marker in cmd] or [pid for pid, _ in roots]
