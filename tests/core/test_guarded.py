"""`neo.kit.guarded.Guarded`: a descriptor worker threads use is released only once no call
uses it, calls after `close` are refused, and the release happens exactly once."""

from __future__ import annotations

import errno
import os
import threading

import pytest

from neo.kit.guarded import Guarded


def test_close_waits_for_the_running_call_and_later_calls_are_refused() -> None:
    released: list[int] = []
    guarded = Guarded(7, released.append)
    inside, leave = threading.Event(), threading.Event()

    def slow(resource: int) -> int:
        inside.set()
        leave.wait(5)
        return resource * 2

    results: list[int] = []
    worker = threading.Thread(target=lambda: results.append(guarded.use(slow)))
    worker.start()
    assert inside.wait(5)
    guarded.close()  # returns at once: the release waits for the call
    assert guarded.closed
    assert released == []
    with pytest.raises(OSError, match="Bad file descriptor") as refused:
        guarded.use(lambda resource: resource)
    assert refused.value.errno == errno.EBADF
    leave.set()
    worker.join(5)
    assert results == [14]
    assert released == [7]  # released by the call's own thread, once
    guarded.close()
    assert released == [7]


def test_an_idle_resource_is_released_at_close() -> None:
    read, write = os.pipe()
    guarded = Guarded(write, os.close)
    assert guarded.use(lambda fd: os.write(fd, b"x")) == 1
    guarded.close()
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(write)  # closed
    assert os.read(read, 1) == b"x"
    os.close(read)


def test_many_threads_one_release() -> None:
    released: list[str] = []
    guarded = Guarded("r", released.append)
    start = threading.Barrier(9)

    def hammer() -> None:
        start.wait(5)
        for _ in range(2000):
            try:
                guarded.use(lambda resource: resource)
            except OSError:
                return

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    start.wait(5)
    guarded.close()
    for thread in threads:
        thread.join(5)
    assert released == ["r"]
