"""Egress allow-lists: the policy's rules, and real sandboxes reaching (or not) real HTTP
servers on the host through the host-side filtering proxy.

The "allowed" and "denied" hosts are two HTTP servers on the host's 127.0.0.1 (distinct
ports). The proxy's static name table maps test names to addresses (DNS stand-in), so names
that resolve to loopback or to the metadata address show the rebinding defence; reaching the
loopback servers at all needs their `address:port` listed explicitly, as an operator would.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import pytest_asyncio

from neo.sandbox.runtimes.base import NetworkPolicy, Runtime, SandboxSpec
from neo.sandbox.runtimes.containers import DockerRuntime
from neo.sandbox.runtimes.egress import Policy, Refused, RuleError, parse_rule, parse_rules
from neo.sandbox.runtimes.egress_proxy import PROXY_PORT, EgressProxy
from neo.sandbox.runtimes.local import LocalRuntime
from tests.sandbox.conftest import SLOTS, SMALL, run

HOSTS = {
    "good.test": "127.0.0.1",
    "evil.test": "127.0.0.1",
    "rebind.test": "127.0.0.1",
    "meta.test": "169.254.169.254",
    "public.test": "192.0.2.10",
}


class Site:
    """A real HTTP server on the host's loopback that counts the requests it gets."""

    def __init__(self, body: bytes) -> None:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.hits.append(self.path)
                site.hosts.append(self.headers.get("Host", ""))
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.hits: list[str] = []
        self.hosts: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def good() -> Iterator[Site]:
    site = Site(b"allowed-body")
    yield site
    site.server.shutdown()
    site.server.server_close()


@pytest.fixture(scope="module")
def evil() -> Iterator[Site]:
    site = Site(b"denied-body")
    yield site
    site.server.shutdown()
    site.server.server_close()


@pytest.fixture(scope="module", params=["local", "docker"])
def runtime(request: pytest.FixtureRequest) -> Runtime:
    """Each test runs once per runtime, its proxy given the test name table."""
    chosen = request.getfixturevalue(f"{request.param}_runtime")
    assert isinstance(chosen, LocalRuntime | DockerRuntime)
    if chosen.egress.hosts != HOSTS:  # set once, while none of its proxies serves
        chosen.egress = EgressProxy(hosts=HOSTS)
    return chosen


@pytest_asyncio.fixture(loop_scope="session")
async def boxes(runtime: Runtime) -> AsyncIterator[list[SandboxSpec]]:
    """Sandboxes a test started (append), deleted afterwards."""
    made: list[SandboxSpec] = []
    yield made
    for spec in made:
        await runtime.delete(spec.id)


async def started(runtime: Runtime, boxes: list[SandboxSpec], *allow: str) -> SandboxSpec:
    """A started sandbox allowed `allow` (denied when empty), with `fetch.py` in its workspace."""
    policy = NetworkPolicy("allow", allow) if allow else NetworkPolicy()
    spec = SandboxSpec(str(uuid.uuid4()), next(SLOTS), SMALL, network=policy)
    boxes.append(spec)
    await runtime.create(spec)
    await runtime.start(spec)
    script = runtime.files_root(spec.id) / "fetch.py"
    script.write_text(FETCH)
    script.chmod(0o644)
    return spec


# Prints "<status> <body>" or "ERR <error>". `proxy`: through HTTP_PROXY whatever NO_PROXY says;
# `tunnel`: a CONNECT tunnel to the proxy (as HTTPS clients do); `direct`: no proxy at all.
FETCH = """
import http.client, os, sys, urllib.error, urllib.parse, urllib.request
url, how = sys.argv[1], sys.argv[2]
try:
    if how == "tunnel":
        u = urllib.parse.urlsplit(url)
        port = int(os.environ["HTTP_PROXY"].rsplit(":", 1)[1])
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.set_tunnel(u.hostname, u.port)
        c.request("GET", u.path or "/")
        r = c.getresponse()
        print(r.status, r.read().decode())
    else:
        for k in ("no_proxy", "NO_PROXY"):
            os.environ.pop(k, None)
        proxies = {} if how == "direct" else {"http": os.environ["HTTP_PROXY"]}
        opener = urllib.request.build_opener(urllib.request.ProxyHandler(proxies))
        with opener.open(url, timeout=5) as r:
            print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
except Exception as e:
    print("ERR", e)
"""


def fetch(url: str, how: str = "proxy") -> str:
    return f"python3 fetch.py '{url}' {how}"


TALK = (
    "python3 -c \"import socket, sys; s = socket.create_connection(('127.0.0.1', {})); "
    "s.sendall(sys.argv[1].encode()); print(s.recv(200).decode().splitlines()[0])\" '{}'"
)  # sends raw bytes to the proxy, prints its status line


# The policy's rules


def test_rules_parse_names_wildcards_addresses_and_ports() -> None:
    assert parse_rule("API.Example.com").host == "api.example.com"
    assert parse_rule("api.example.com").ports == (80, 443)
    assert parse_rule("*.example.com:8443").wildcard
    assert parse_rule("*.example.com:8443").ports == (8443,)
    assert str(parse_rule("[2001:db8::1]:443").address) == "2001:db8::1"
    assert str(parse_rule("::ffff:10.0.0.1").address) == "10.0.0.1"
    for bad in (
        "",
        "exa mple.com",
        "*.com",
        "host:0",
        "host:70000",
        "host:\u00b2",
        "a:b:c",
        "[::1",
        "-x.org",
    ):
        with pytest.raises(RuleError):
            parse_rule(bad)
    with pytest.raises(RuleError):
        parse_rules([f"h{i}.org" for i in range(65)])


def test_policy_matches_names_ports_and_refuses_private_addresses() -> None:
    policy = Policy(parse_rules(["api.example.com", "*.cdn.org:8080", "10.1.2.3:5432"]), {})
    assert policy.target("API.example.com.", 443) == ("api.example.com", None)
    assert policy.target("x.y.cdn.org", 8080)[0] == "x.y.cdn.org"
    for host, port in [("api.example.com", 8080), ("cdn.org", 8080), ("example.com", 443)]:
        with pytest.raises(Refused):
            policy.target(host, port)
    assert str(policy.target("10.1.2.3", 5432)[1]) == "10.1.2.3"
    with pytest.raises(Refused):
        policy.target("10.1.2.4", 5432)  # an address must be listed itself
    assert str(policy.choose("api.example.com", 443, ["10.9.9.9", "93.184.215.14"])) == (
        "93.184.215.14"
    )
    for private in ("127.0.0.1", "169.254.169.254", "10.0.0.1", "::1", "::ffff:127.0.0.1"):
        with pytest.raises(Refused):
            policy.choose("api.example.com", 443, [private])
    assert str(policy.choose("db.internal", 5432, ["10.1.2.3"])) == "10.1.2.3"  # listed


# Real sandboxes, real servers


async def test_allowed_host_is_reached_through_the_proxy(
    runtime: Runtime, boxes: list[SandboxSpec], good: Site
) -> None:
    spec = await started(runtime, boxes, f"good.test:{good.port}", f"127.0.0.1:{good.port}")
    url = f"http://good.test:{good.port}/hello"
    for how in ("proxy", "tunnel"):  # plain HTTP forwarding, and CONNECT (as for HTTPS)
        result = await run(runtime, spec, fetch(url, how))
        assert result.stdout == "200 allowed-body\n", (how, result.stdout, result.stderr)
    assert good.hits[-2:] == ["/hello"] * 2
    spoof = f"GET http://good.test:{good.port}/spoof HTTP/1.1\r\nHost: admin.internal\r\n\r\n"
    answer = await run(runtime, spec, TALK.format(PROXY_PORT, spoof))
    assert answer.stdout.startswith("HTTP/1.0 200"), answer.stdout
    assert (good.hits[-1], good.hosts[-1]) == ("/spoof", f"good.test:{good.port}")
    await runtime.stop(spec.id)  # the proxy goes with the sandbox, and comes back with it
    await runtime.start(spec)
    again = await run(runtime, spec, fetch(url))
    assert again.stdout == "200 allowed-body\n", again.stderr


async def test_a_new_neo_serves_the_proxy_of_a_running_sandbox_again_on_start(
    runtime: Runtime, boxes: list[SandboxSpec], good: Site
) -> None:
    assert isinstance(runtime, LocalRuntime | DockerRuntime)
    spec = await started(runtime, boxes, f"good.test:{good.port}", f"127.0.0.1:{good.port}")
    url = f"http://good.test:{good.port}/"
    await runtime.egress.close_all()  # as after a NEO crash: the sandbox runs, its proxy is gone
    runtime.egress = EgressProxy(hosts=HOSTS)
    lost = await run(runtime, spec, fetch(url))
    assert lost.stdout.startswith("ERR ")
    assert "Connection refused" in lost.stdout  # egress fails closed
    await runtime.start(spec)  # what recovery does for running allow-mode sandboxes
    back = await run(runtime, spec, fetch(url))
    assert back.stdout == "200 allowed-body\n", back.stderr


async def test_curl_uses_the_proxy_from_the_environment(
    local_runtime: LocalRuntime, good: Site
) -> None:
    if local_runtime.egress.hosts != HOSTS:
        local_runtime.egress = EgressProxy(hosts=HOSTS)
    boxes: list[SandboxSpec] = []
    try:
        allow = (f"good.test:{good.port}", f"127.0.0.1:{good.port}")
        spec = await started(local_runtime, boxes, *allow)
        url = f"http://good.test:{good.port}/curl"
        plain = await run(local_runtime, spec, f"curl -sS -m 5 '{url}'")
        assert plain.stdout == "allowed-body", plain.stderr
        tunnel = await run(local_runtime, spec, f"curl -sS -m 5 -p '{url}'")
        assert tunnel.stdout == "allowed-body", tunnel.stderr
        evil = f"curl -sS -m 5 -p 'http://evil.test:{good.port}/'"
        refused = await run(local_runtime, spec, evil)
        assert refused.exit_code != 0
        assert "403" in refused.stderr
    finally:
        for box in boxes:
            await local_runtime.delete(box.id)


async def test_unlisted_hosts_ports_and_addresses_are_refused(
    runtime: Runtime, boxes: list[SandboxSpec], good: Site, evil: Site
) -> None:
    spec = await started(runtime, boxes, f"good.test:{good.port}", f"127.0.0.1:{good.port}")
    before = len(evil.hits)
    for url in [
        f"http://evil.test:{evil.port}/",  # not listed
        f"http://good.test:{evil.port}/",  # listed name, other port
        f"http://127.0.0.1:{evil.port}/",  # listed address, other port
        "http://169.254.169.254/latest/meta-data/",
    ]:
        result = await run(runtime, spec, fetch(url))
        assert result.stdout.startswith("403 "), (url, result.stdout, result.stderr)
        assert "not in the sandbox's allow-list" in result.stdout
    tunnel = await run(runtime, spec, fetch(f"http://evil.test:{evil.port}/", "tunnel"))
    assert tunnel.stdout.startswith("ERR Tunnel connection failed: 403"), tunnel.stdout
    assert len(evil.hits) == before  # nothing reached the denied server


async def test_names_resolving_to_private_addresses_are_refused(
    runtime: Runtime, boxes: list[SandboxSpec], good: Site
) -> None:
    spec = await started(runtime, boxes, f"rebind.test:{good.port}", "meta.test")
    before = len(good.hits)
    for url, address in [
        (f"http://rebind.test:{good.port}/", "127.0.0.1"),
        ("http://meta.test/latest/meta-data/", "169.254.169.254"),
    ]:
        result = await run(runtime, spec, fetch(url))
        assert result.stdout.startswith("403 "), (url, result.stdout, result.stderr)
        assert f"non-public addresses only ({address})" in result.stdout
    assert len(good.hits) == before


async def test_connections_around_the_proxy_go_nowhere(
    runtime: Runtime, boxes: list[SandboxSpec], good: Site
) -> None:
    spec = await started(runtime, boxes, f"good.test:{good.port}", f"127.0.0.1:{good.port}")
    direct = await run(runtime, spec, fetch(f"http://127.0.0.1:{good.port}/", "direct"))
    assert direct.stdout.startswith("ERR "), direct.stdout
    assert "Connection refused" in direct.stdout  # the sandbox's own loopback: nothing there
    connect = (
        "python3 -c \"import socket; s = socket.socket(); s.settimeout(2); s.connect(('{}', {}))\""
    )
    for address in ("192.0.2.1", "169.254.169.254"):
        outside = await run(runtime, spec, connect.format(address, 80))
        assert "Network is unreachable" in outside.stderr, outside.stderr  # no route out
    devices = await run(runtime, spec, "cat /proc/net/dev")
    names = [line.split(":")[0].strip() for line in devices.stdout.splitlines() if ":" in line]
    assert names == ["lo"]


async def test_the_proxy_answers_bad_requests_with_400(
    runtime: Runtime, boxes: list[SandboxSpec], good: Site
) -> None:
    spec = await started(runtime, boxes, f"good.test:{good.port}")
    for request in [
        "hello\r\n\r\n",
        "GET /relative HTTP/1.1\r\nHost: good.test\r\n\r\n",
        "CONNECT good.test HTTP/1.1\r\n\r\n",  # CONNECT needs a port
        "CONNECT good.test:\u00b2 HTTP/1.1\r\n\r\n",  # a digit, but not an ASCII one
        "GET http://good.test/ HTTP/1.1\r\n" + "X-Pad: " + "a" * 20000 + "\r\n\r\n",
        "GET http://user@good.test/ HTTP/1.1\r\n\r\n",
    ]:
        result = await run(runtime, spec, TALK.format(PROXY_PORT, request))
        assert result.stdout.startswith("HTTP/1.1 400"), (request, result.stdout, result.stderr)


async def test_deny_sandboxes_have_no_proxy(runtime: Runtime, boxes: list[SandboxSpec]) -> None:
    spec = await started(runtime, boxes)
    env = await run(runtime, spec, "env")
    assert "PROXY" not in env.stdout.upper()
    connect = (
        'python3 -c "import socket; s = socket.socket(); s.settimeout(2); '
        f"s.connect(('127.0.0.1', {PROXY_PORT}))\""
    )
    result = await run(runtime, spec, connect)
    assert "Operation not permitted" in result.stderr  # no IP sockets at all when denied
