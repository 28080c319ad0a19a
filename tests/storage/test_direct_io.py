"""`DirectFile`: bytes written through its aligned buffer (O_DIRECT where the file system
allows it) come back exactly, whatever the chunking, the size (empty, below, at and across
block and buffer boundaries) and whether the buffer is used at all."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from neo.storage.backends.direct_io import BLOCK, DirectFile

BUFFER = 64 * BLOCK
SIZES = [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, BUFFER - 1, BUFFER, 3 * BUFFER + 17]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("buffer_size", [BUFFER, 0])
def test_bytes_come_back_exactly(tmp_path: Path, size: int, buffer_size: int) -> None:
    data, rng = os.urandom(size), random.Random(size)
    path = tmp_path / "object"
    file = DirectFile(path, buffer_size)
    try:
        if buffer_size == 0:
            assert not file.direct  # no buffer: ordinary writes
        sent = 0
        while sent < size:
            step = rng.randint(1, BUFFER // 3)
            file.write([data[sent : sent + step], b""])
            sent += step
        file.finish()
        os.fsync(file.fileno())
    finally:
        file.close()
    assert path.read_bytes() == data


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "taken").write_bytes(b"keep")
    with pytest.raises(FileExistsError):
        DirectFile(tmp_path / "taken", BUFFER)
    assert (tmp_path / "taken").read_bytes() == b"keep"
