"""The Docker runtime's base image, built from this host when no registry is reachable: the
interpreter the in-sandbox agent needs (this host's python3, its standard library and the
shared libraries it and its extension modules load) and busybox (statically linked, Debian's
`busybox-static`) as `/bin/sh` and the usual tools, imported with `docker import`.

Any image with a `python3` (3.8 or later) can serve instead; this one is small (about 30 MB)
and needs nothing but the host's own files.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import docker
import docker.errors

BUSYBOX = "/bin/busybox"
SKIP = re.compile(r"^(test|idlelib|tkinter|turtledemo|ensurepip|lib2to3|pydoc_data|distutils)$")
SKIP_PREFIXES = ("config-", "site-packages", "dist-packages")
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"  # noqa: S105 - /etc/passwd lines, no password


class ImageUnavailable(RuntimeError):
    """The image is missing and cannot be built here; the message says why."""


def python_binary() -> Path:
    """This host's system python3 (not a venv's), resolved."""
    return Path("/usr/bin/python3").resolve()


def shared_libraries(binaries: list[Path]) -> set[Path]:
    """Every shared library the binaries load, as `ldd` lists them (loader included)."""
    found: set[Path] = set()
    for binary in binaries:
        done = subprocess.run(
            ["ldd", str(binary)], capture_output=True, text=True, timeout=30, check=False
        )
        for match in re.finditer(r"(/\S+\.so[.\d]*)", done.stdout):
            found.add(Path(match.group(1)))
    return found


def _add(tar: tarfile.TarFile, path: Path, arcname: str) -> None:
    info = tar.gettarinfo(str(path), arcname)
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if info.isreg():
        with path.open("rb") as f:
            tar.addfile(info, f)
    else:
        tar.addfile(info)


def _add_text(tar: tarfile.TarFile, arcname: str, text: str, mode: int = 0o644) -> None:
    data = text.encode()
    info = tarfile.TarInfo(arcname)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, arcname: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(arcname)
    info.type, info.mode = tarfile.DIRTYPE, mode
    tar.addfile(info)


def _add_stdlib(tar: tarfile.TarFile, stdlib: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(stdlib):
        here = Path(dirpath)
        if here == stdlib:
            dirnames[:] = [
                d for d in dirnames if not SKIP.match(d) and not d.startswith(SKIP_PREFIXES)
            ]
        _add(tar, here, str(here).lstrip("/"))
        for name in filenames:
            _add(tar, here / name, str(here / name).lstrip("/"))


def write_rootfs(out: Path) -> None:
    """Write the image's root filesystem as a tar file."""
    python = python_binary()
    stdlib = Path("/usr/lib") / python.name  # python3.11 -> /usr/lib/python3.11 (Debian)
    if not stdlib.is_dir() or not python.is_file():
        raise ImageUnavailable(f"no system python3 with its standard library at {stdlib}")
    if not Path(BUSYBOX).is_file():
        raise ImageUnavailable(f"{BUSYBOX} missing (apt-get install busybox-static)")
    modules = list((stdlib / "lib-dynload").glob("*.so"))
    with tarfile.open(out, "w") as tar:
        for name in ("bin", "usr", "usr/bin", "etc", "lib", "lib64", "opt", "run", "workspace"):
            _add_dir(tar, name)
        _add_dir(tar, "tmp", 0o1777)
        _add(tar, python, "usr/bin/python3")
        _add_stdlib(tar, stdlib)
        dirs: set[str] = set()
        for lib in sorted(shared_libraries([python, *modules])):
            for parent in reversed(Path(str(lib).lstrip("/")).parents[:-1]):
                if str(parent) not in dirs | {"lib", "lib64", "usr"}:
                    dirs.add(str(parent))
                    _add_dir(tar, str(parent))
            _add(tar, lib.resolve(), str(lib).lstrip("/"))
        _add(tar, Path(BUSYBOX), "bin/busybox")
        for applet in _applets():
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        _add_text(tar, "etc/passwd", PASSWD)
        _add_text(tar, "etc/group", "root:x:0:\nnogroup:x:65534:\n")
        _add_text(tar, "etc/hosts", "127.0.0.1\tlocalhost sandbox\n")


def _applets() -> list[str]:
    done = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True)
    return [a for a in done.stdout.split() if a and a != "busybox"]


def ensure_image(client: docker.DockerClient, tag: str, *, build: bool) -> str:
    """The id of image `tag`, built from this host first when missing and `build` is set."""
    try:
        return str(client.images.get(tag).id)
    except docker.errors.ImageNotFound:
        if not build:
            raise ImageUnavailable(f"image {tag} not found (pull or load it)") from None
    repository, _, version = tag.partition(":")
    workdir = Path(tempfile.mkdtemp(prefix="neo-image-"))
    try:
        rootfs = workdir / "rootfs.tar"
        write_rootfs(rootfs)
        client.api.import_image_from_file(
            str(rootfs), repository=repository, tag=version or "latest"
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return str(client.images.get(tag).id)
