"""Host-side file operations on a sandbox's workspace, safe against the sandbox itself.

The sandbox controls every name in its workspace, so no path is ever resolved by name from the
host's root: each component is opened relative to its parent's descriptor with `O_NOFOLLOW`
(openat-style), `..` is refused, the last component is never followed, and only regular files
are read or written (opened `O_NONBLOCK`, so a FIFO cannot stall the server). A symlink to
`/etc` inside the workspace is shown as a symlink, never read through.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from neo.sandbox.errors import (
    InvalidPath,
    NotADirectory,
    PathExists,
    PathNotFound,
    SandboxError,
)

DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
ALIAS = "workspace"  # paths may be given as /workspace/..., as the sandbox sees them


def split_path(path: str) -> list[str]:
    """The components of a workspace path; `..` and NUL are refused."""
    if "\0" in path:
        raise InvalidPath("paths cannot contain NUL")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if path.startswith("/") and parts[:1] == [ALIAS]:
        parts = parts[1:]
    if ".." in parts:
        raise InvalidPath("paths cannot contain '..'")
    return parts


def _translate(exc: OSError, path: str) -> SandboxError:
    if exc.errno == errno.ENOENT:
        return PathNotFound(f"no such file or directory: {path}")
    if exc.errno in (errno.ENOTDIR, errno.ELOOP):
        return NotADirectory(f"not a directory (or a symlink): {path}")
    if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
        return PathExists(f"exists (or is not empty): {path}")
    return InvalidPath(f"{path}: {os.strerror(exc.errno or 0)}")


class Workspace:
    """The files of one sandbox, reached from the host."""

    def __init__(self, root: Path, uid: int) -> None:
        self.root = root
        self.uid = uid

    @contextlib.contextmanager
    def _dir(self, parts: list[str], path: str) -> Iterator[int]:
        """A descriptor of the directory `parts`, walked without following symlinks."""
        fds = [os.open(self.root, DIR_FLAGS)]
        try:
            for part in parts:
                fds.append(os.open(part, DIR_FLAGS, dir_fd=fds[-1]))
            yield fds[-1]
        except OSError as exc:
            raise _translate(exc, path) from None
        finally:
            for fd in fds:
                os.close(fd)

    @contextlib.contextmanager
    def parent(self, path: str) -> Iterator[tuple[int, str]]:
        """The parent directory's descriptor and the last name of a non-root path."""
        parts = split_path(path)
        if not parts:
            raise InvalidPath("the workspace root cannot be the target")
        with self._dir(parts[:-1], path) as fd:
            yield fd, parts[-1]

    def info(self, path: str) -> dict[str, Any]:
        """Type, size, mode and time of one path (symlinks described, not followed)."""
        if not split_path(path):
            with self._dir([], path) as fd:
                return _describe("", os.fstat(fd))
        with self.parent(path) as (fd, name):
            try:
                return _describe(name, os.stat(name, dir_fd=fd, follow_symlinks=False))
            except OSError as exc:
                raise _translate(exc, path) from None

    def list(self, path: str) -> list[dict[str, Any]]:
        """Entries of a directory."""
        parts = split_path(path)
        with self._dir(parts, path) as fd:
            listing = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
            try:
                with os.scandir(listing) as it:
                    entries = [_describe(e.name, e.stat(follow_symlinks=False)) for e in it]
            finally:
                os.close(listing)
        return sorted(entries, key=lambda e: e["name"])

    def open_read(self, path: str) -> tuple[int, int]:
        """An open descriptor of a regular file, and its size (caller closes)."""
        with self.parent(path) as (dirfd, name):
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dirfd)
            except OSError as exc:
                raise _translate(exc, path) from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise InvalidPath(f"not a regular file: {path}")
        os.set_blocking(fd, True)
        return fd, st.st_size

    def open_write(self, path: str) -> int:
        """A descriptor to (re)write a regular file, owned by the sandbox (caller closes)."""
        with self.parent(path) as (dirfd, name):
            flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            try:
                fd = os.open(name, flags, 0o644, dir_fd=dirfd)
            except OSError as exc:
                raise _translate(exc, path) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise InvalidPath(f"not a regular file: {path}")
        os.set_blocking(fd, True)
        os.ftruncate(fd, 0)
        os.fchown(fd, self.uid, self.uid)
        return fd

    def delete(self, path: str, *, recursive: bool = False) -> None:
        """Remove a file, a symlink (not its target) or a directory."""
        with self.parent(path) as (fd, name):
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):
                    os.unlink(name, dir_fd=fd)
                elif recursive:
                    shutil.rmtree(name, dir_fd=fd)
                else:
                    os.rmdir(name, dir_fd=fd)
            except OSError as exc:
                raise _translate(exc, path) from None

    def move(self, source: str, destination: str, *, overwrite: bool = False) -> None:
        """Rename within the workspace (names are never followed)."""
        with self.parent(source) as (src_fd, src), self.parent(destination) as (dst_fd, dst):
            try:
                if not overwrite and _exists(dst, dst_fd):
                    raise PathExists(f"exists: {destination}")
                os.rename(src, dst, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
            except OSError as exc:
                raise _translate(exc, f"{source} -> {destination}") from None

    def mkdir(self, path: str, *, parents: bool = False) -> None:
        """Create a directory (and its missing parents), owned by the sandbox."""
        parts = split_path(path)
        if not parts:
            raise PathExists("the workspace root exists")
        start = 0 if parents else len(parts) - 1
        for depth in range(start, len(parts)):
            with self._dir(parts[:depth], path) as fd:
                name = parts[depth]
                try:
                    os.mkdir(name, 0o755, dir_fd=fd)
                except FileExistsError:
                    if not parents:
                        raise PathExists(f"exists: {path}") from None
                    continue
                except OSError as exc:
                    raise _translate(exc, path) from None
                os.chown(name, self.uid, self.uid, dir_fd=fd, follow_symlinks=False)


def _exists(name: str, dir_fd: int) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _describe(name: str, st: os.stat_result) -> dict[str, Any]:
    kind = (
        "directory"
        if stat.S_ISDIR(st.st_mode)
        else "file"
        if stat.S_ISREG(st.st_mode)
        else "symlink"
        if stat.S_ISLNK(st.st_mode)
        else "other"
    )
    return {
        "name": name,
        "type": kind,
        "size": st.st_size,
        "mode": oct(stat.S_IMODE(st.st_mode)),
        "modified_at": st.st_mtime,
    }
