"""Scratch directories for `neo` processes, outside pytest's temporary root.

The embedded PostgreSQL runs as `neo-postgres` and needs to traverse every parent of its data
dir. pytest resets its root (`/tmp/pytest-of-<user>`) to mode 0700 whenever another session
starts, which would cut a running session's servers off from their files; a directory of our
own under `/tmp` is not touched by other sessions.
"""

from __future__ import annotations

import itertools
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def scratch() -> Iterator[Callable[[str], Path]]:
    """Factory of fresh, empty directories, all removed at the end of the session."""
    root = Path(tempfile.mkdtemp(prefix="neo-cli-tests-"))
    numbers = itertools.count()

    def make(name: str) -> Path:
        path = root / f"{re.sub(r'[^A-Za-z0-9_-]+', '-', name)[:40]}-{next(numbers)}"
        path.mkdir()
        return path

    yield make
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def workdir(scratch: Callable[[str], Path], request: pytest.FixtureRequest) -> Path:
    """A fresh directory for one test (its `neo` data dirs, logs and working directory)."""
    return scratch(request.node.name)
