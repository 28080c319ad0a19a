"""Collecting a command's output: from the agent's event stream, or from a one-shot process's
pipes, with a per-stream byte limit (the rest is dropped and the result marked truncated)."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
from collections.abc import AsyncIterator

from neo.sandbox.runtimes.base import ExecEvent, ExecResult

DEFAULT_MAX_BYTES = 1 << 20


class _Sink:
    """One stream's text, cut at `max_chars`."""

    def __init__(self, max_chars: int) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.max_chars = max_chars
        self.truncated = False

    def add(self, text: str) -> None:
        room = self.max_chars - self.size
        if len(text) > room:
            text, self.truncated = text[: max(room, 0)], True
        self.parts.append(text)
        self.size += len(text)

    def text(self) -> str:
        return "".join(self.parts)


async def collect(events: AsyncIterator[ExecEvent], max_bytes: int) -> ExecResult:
    """Gather an event stream into one result."""
    sinks = {"stdout": _Sink(max_bytes), "stderr": _Sink(max_bytes)}
    result = ExecResult(exit_code=-1)
    async for event in events:
        if event.kind == "exit":
            result.exit_code = event.exit_code if event.exit_code is not None else -1
            result.timed_out = event.timed_out
        else:
            sinks[event.kind].add(event.data)
    result.stdout, result.stderr = sinks["stdout"].text(), sinks["stderr"].text()
    result.truncated = sinks["stdout"].truncated or sinks["stderr"].truncated
    return result


async def _drain(stream: asyncio.StreamReader | None, sink: _Sink) -> None:
    if stream is None:
        return
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    while chunk := await stream.read(65536):
        sink.add(decoder.decode(chunk))
    sink.add(decoder.decode(b"", final=True))


async def run_command(
    proc: asyncio.subprocess.Process, *, seconds: float, max_bytes: int = DEFAULT_MAX_BYTES
) -> ExecResult:
    """Wait for a one-shot process, killing it after `seconds`."""
    out, err = _Sink(max_bytes), _Sink(max_bytes)
    timed_out = False
    drains = asyncio.gather(_drain(proc.stdout, out), _drain(proc.stderr, err), proc.wait())
    try:
        await asyncio.wait_for(asyncio.shield(drains), seconds)
    except TimeoutError:
        timed_out = True
        with contextlib.suppress(ProcessLookupError):
            proc.kill()  # bwrap goes, and the sandbox's pid namespace with it
        await asyncio.wait_for(drains, 10)
    code = proc.returncode if proc.returncode is not None else -1
    result = ExecResult(code, out.text(), err.text(), timed_out=timed_out)
    result.truncated = out.truncated or err.truncated
    return result
