"""The real `neo` command: `neo start` comes up, serves, stops cleanly on Ctrl-C and SIGTERM,
dies without leftovers when killed, refuses clearly what it cannot do (exit codes 2, 3, 4), and
the operational commands work on a data dir with nothing running."""

from __future__ import annotations

import base64
import json
import re
import signal
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from neo.kit.net import free_port
from tests.cli.processes import Neo, Result, neo_env, run_neo, start_neo, started, wait_gone

pytestmark = pytest.mark.slow


def claims(token: str) -> dict[str, object]:
    """The payload of a JWT, unverified."""
    payload = token.split(".")[1]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=" * 4))
    return decoded


def assert_clean_failure(result: Result, code: int, *words: str) -> None:
    """Exit `code`, an `error:` message naming `words`, and no traceback."""
    assert result.code == code, result.output
    assert "Traceback" not in result.output
    assert result.flat.startswith("error:"), result.output
    for word in words:
        assert word in result.flat, result.output


def assert_stops_cleanly(neo: Neo, stop: signal.Signals) -> None:
    """`stop` ends neo with 0, and every process it or its PostgreSQL had is gone."""
    postmaster = neo.postmaster_pid()
    assert postmaster is not None
    assert postmaster in neo.seen
    if stop == signal.SIGINT:
        neo.interrupt()
    else:
        neo.send(stop)
    assert neo.wait() == 0, neo.output
    assert "NEO stopped." in neo.output
    assert "Traceback" not in neo.output
    assert wait_gone(list(neo.seen.values()), neo.data_dir, timeout=5) == []
    assert neo.postmaster_pid() is None  # a clean shutdown removes postmaster.pid


# --- one running instance, shared ----------------------------------------------------------


@pytest.fixture(scope="module")
def neo(scratch: Callable[[str], Path]) -> Iterator[Neo]:
    """A `neo start` on a fresh data dir, ready."""
    with started(scratch("shared") / "data") as neo:
        yield neo


def test_start_answers_health_and_ready(neo: Neo) -> None:
    health = httpx.get(f"{neo.url}/health", timeout=5)
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    ready = httpx.get(f"{neo.url}/ready", timeout=5)
    assert (ready.status_code, ready.json()) == (200, {"status": "ready", "problems": []})


def test_the_api_runs_on_uvloop(neo: Neo) -> None:
    # one worker used to run on asyncio.run's default loop, ~20% more CPU per request
    maps = Path(f"/proc/{neo.process.pid}/maps").read_text()
    assert "uvloop" in maps


def test_summary_prints_urls_and_keys(neo: Neo) -> None:
    assert neo.summary("API URL") == neo.url
    assert neo.summary("JWKS URL") == f"{neo.url}/auth/v1/.well-known/jwks.json"
    assert claims(neo.summary("anon key"))["role"] == "anon"
    assert claims(neo.summary("service_role key"))["role"] == "service_role"
    jwks = httpx.get(neo.summary("JWKS URL"), timeout=5)
    assert jwks.status_code == 200
    assert jwks.json()["keys"]


async def test_embedded_postgres_accepts_password_login_over_tcp(neo: Neo) -> None:
    password = (neo.data_dir / "secrets" / "postgres-password").read_text().strip()
    url = f"postgresql://postgres:{password}@127.0.0.1:{neo.db_port}/postgres"
    assert neo.summary("Postgres URL") == url
    conn = await asyncpg.connect(url, timeout=10)
    try:
        assert await conn.fetchval("select current_setting('server_version_num')::int") >= 180000
    finally:
        await conn.close()


def test_status_reports_the_running_instance(neo: Neo) -> None:
    result = run_neo("status", "--data-dir", str(neo.data_dir), cwd=neo.data_dir.parent)
    assert result.code == 0, result.output
    assert f"pid {neo.process.pid}" in result.output
    assert f"running, pid {neo.postmaster_pid()}" in result.output
    assert "(ready)" in result.output


def test_keys_reach_the_running_server_on_its_own_port(neo: Neo) -> None:
    # The instance runs on --db-port, not the configured default: `neo keys` must find it.
    result = run_neo("keys", "--data-dir", str(neo.data_dir), cwd=neo.data_dir.parent)
    assert result.code == 0, result.output
    assert neo.summary("anon key") in result.output.split()


def test_second_start_on_a_data_dir_in_use_exits_4(neo: Neo) -> None:
    other = start_neo(neo.data_dir)  # other API and database ports
    try:
        result = Result(other.wait(), other.output)
    finally:
        other.kill_all(sweep=False)
    assert_clean_failure(result, 4, "in use by another NEO", f"pid {neo.postmaster_pid()}")
    assert httpx.get(f"{neo.url}/ready", timeout=5).status_code == 200
    assert (neo.data_dir / "run" / "neo.json").exists()  # the refused start left it alone


# --- starting and stopping -----------------------------------------------------------------


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_signal_stops_everything(workdir: Path, stop: signal.Signals) -> None:
    with started(workdir / "data") as neo:
        assert_stops_cleanly(neo, stop)


def test_second_start_reuses_the_data_dir(workdir: Path) -> None:
    data = workdir / "data"
    with started(data) as first:
        version_file = data / "postgres" / "PG_VERSION"
        created = version_file.stat().st_mtime_ns
        anon_key, service_key = first.summary("anon key"), first.summary("service_role key")
        assert_stops_cleanly(first, signal.SIGINT)
    with started(data) as second:
        assert version_file.stat().st_mtime_ns == created  # no second initdb
        assert (second.summary("anon key"), second.summary("service_role key")) == (
            anon_key,
            service_key,
        )
        assert_stops_cleanly(second, signal.SIGTERM)


def test_workers_run_as_children_and_stop_with_ctrl_c(workdir: Path) -> None:
    with started(workdir / "data", "--workers", "2") as neo:
        workers = [p for p in neo.children() if "multiprocessing.spawn" in " ".join(p.cmdline())]
        assert len(workers) == 2
        for _ in range(4):
            assert httpx.get(f"{neo.url}/ready", timeout=5).status_code == 200
        assert "workers           2" in neo.output
        assert_stops_cleanly(neo, signal.SIGINT)


def test_killed_start_takes_postgres_and_workers_down(workdir: Path) -> None:
    data = workdir / "data"
    with started(data, "--workers", "2") as neo:
        tree = neo.remember_tree()
        assert neo.postmaster_pid() in {p.pid for p in tree}
        neo.process.kill()
        neo.wait()
        # The postmaster and the workers get a parent-death signal and stop by themselves.
        assert wait_gone(tree, data, timeout=15) == []
    env = neo_env(NEO_API__PORT=str(free_port()))
    status = run_neo("status", "--data-dir", str(data), cwd=workdir, env=env)
    assert status.code == 1
    assert "not running" in status.output  # not the killed pid from the stale state file
    with started(data) as again:
        assert httpx.get(f"{again.url}/ready", timeout=5).status_code == 200
        assert_stops_cleanly(again, signal.SIGINT)


# --- refusals --------------------------------------------------------------------------------


def test_port_in_use_exits_3(workdir: Path) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = run_neo("start", "--data-dir", str(workdir / "data"), "--port", str(port),
                         "--db-port", str(free_port()), cwd=workdir)  # fmt: skip
    assert_clean_failure(result, 3, f"127.0.0.1:{port}", "--port")
    assert not (workdir / "data").exists()


def test_broken_data_dir_exits_4_and_keeps_its_files(workdir: Path) -> None:
    junk = workdir / "data" / "postgres" / "notes.txt"
    junk.parent.mkdir(parents=True)
    junk.write_text("not a cluster")
    result = run_neo("start", "--data-dir", str(workdir / "data"), "--port", str(free_port()),
                     "--db-port", str(free_port()), cwd=workdir)  # fmt: skip
    assert_clean_failure(result, 4, "not a PostgreSQL cluster", "PG_VERSION")
    assert junk.read_text() == "not a cluster"


@pytest.mark.parametrize(
    ("env", "args", "named"),
    [
        ({"NEO_API__PORT": "notanumber"}, [], "api.port"),
        ({"NEO_BOGUS": "1"}, [], "NEO_BOGUS"),
        ({}, ["--port", "70000"], "api.port"),
        ({"NEO_DB__POOL_MAX": "1"}, [], "db.pool_max"),
    ],
    ids=["not-a-number", "unknown-variable", "port-out-of-range", "below-minimum"],
)
def test_invalid_configuration_exits_2_naming_the_key(
    workdir: Path, env: dict[str, str], args: list[str], named: str
) -> None:
    data = workdir / "data"
    result = run_neo("start", "--data-dir", str(data), *args, cwd=workdir, env=neo_env(**env))
    assert_clean_failure(result, 2, named)
    assert not data.exists()


# --- operations with nothing running -------------------------------------------------------


@pytest.fixture(scope="module")
def idle(scratch: Callable[[str], Path]) -> Iterator[tuple[Path, dict[str, str]]]:
    """A migrated data dir nobody runs, and the environment (free ports) to reach it."""
    data = scratch("idle") / "data"
    env = neo_env(NEO_API__PORT=str(free_port()), NEO_DB__PORT=str(free_port()))
    first = run_neo("migrate", "--data-dir", str(data), cwd=data.parent, env=env)
    assert first.code == 0, first.output
    assert "applied core/" in first.output
    yield data, env
    assert wait_gone([], data, timeout=5) == []  # every command stopped its server


def run_idle(idle: tuple[Path, dict[str, str]], *args: str) -> Result:
    data, env = idle
    result = run_neo(*args, "--data-dir", str(data), cwd=data.parent, env=env)
    assert wait_gone([], data, timeout=5) == []
    return result


def test_migrate_reports_up_to_date(idle: tuple[Path, dict[str, str]]) -> None:
    result = run_idle(idle, "migrate")
    assert result.code == 0, result.output
    assert "0 migration(s) applied; the database is up to date." in result.flat


def test_keys_show_api_keys_and_the_current_signing_key(
    idle: tuple[Path, dict[str, str]],
) -> None:
    result = run_idle(idle, "keys")
    assert result.code == 0, result.output
    rows = key_rows(result.output)
    assert claims(rows["anon_key"])["role"] == "anon"
    assert claims(rows["service_key"])["role"] == "service_role"
    assert rows["publishable_key"].startswith("sb_publishable_")
    assert rows["secret_key"].startswith("sb_secret_")
    assert "ES256 current" in rows


def test_keys_rotate_stages_then_promotes(idle: tuple[Path, dict[str, str]]) -> None:
    first = run_idle(idle, "keys", "--rotate")
    assert first.code == 0, first.output
    staged = re.search(r"staged key (\S+)", first.output)
    assert staged, first.output
    assert key_kids(first.output, "standby") == [staged.group(1)]
    second = run_idle(idle, "keys", "--rotate")
    assert second.code == 0, second.output
    assert key_kids(second.output, "current") == [staged.group(1)]
    assert f"staged key {key_kids(second.output, 'standby')[0]}" in second.output


def test_check_reports_the_postgres_version(idle: tuple[Path, dict[str, str]]) -> None:
    result = run_idle(idle, "check")
    assert result.code == 0, result.output
    assert re.search(r"postgres\s+│\s+ok\s+│\s+18\.\d+", result.output), result.output


def test_status_exits_1_when_nothing_runs(idle: tuple[Path, dict[str, str]]) -> None:
    result = run_idle(idle, "status")
    assert result.code == 1, result.output
    assert "not running" in result.output
    assert "stopped" in result.output
    assert "not answering" in result.output


def key_rows(output: str) -> dict[str, str]:
    """`neo keys` lines as name -> value."""
    rows = re.findall(r"^\s+(\w+(?: \w+)?)\s{2,}(\S+)\s*$", output, re.MULTILINE)
    return dict(rows)


def key_kids(output: str, status: str) -> list[str]:
    """Kids of the signing keys `neo keys` lists with `status`."""
    return re.findall(rf"^\s+ES256 {status}\s+(\S+)\s*$", output, re.MULTILINE)
