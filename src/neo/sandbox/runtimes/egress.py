"""Egress allow-lists: the rules a sandbox's network policy lists, and the decision the
host-side filtering proxy (`egress_proxy.py`) takes for each connection.

A rule is a host name (`api.example.com`), a wildcard over subdomains (`*.example.com`, which
does not match `example.com` itself) or an IP literal (`203.0.113.7`, `[2001:db8::1]`),
optionally with a port (`:8443`); without one it allows ports 80 and 443. Names are resolved
by the proxy, never inside the sandbox, and the connection goes to the address that was
checked (no second lookup to rebind). An address that is not globally routable (loopback,
private, link-local and so the cloud metadata service, shared, multicast, reserved) is refused
even when the name is allowed, unless that address is itself listed as an IP rule.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

DEFAULT_PORTS = (80, 443)
MAX_RULES = 64
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_NAME = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RuleError(ValueError):
    """An allow-list entry that is not a host, `*.domain` or IP, with an optional port."""


class Refused(Exception):
    """The policy refuses this destination; the message says why (shown to the sandbox)."""


@dataclass(frozen=True)
class Rule:
    """One allow-list entry: a name, a `*.suffix` wildcard or an address, and its ports."""

    host: str  # lower-case name, the suffix after `*.`, or the address's text
    wildcard: bool
    address: IPAddress | None
    ports: tuple[int, ...]

    def names(self, host: str) -> bool:
        """Whether this (name) rule covers `host`."""
        if self.address is not None:
            return False
        return host.endswith("." + self.host) if self.wildcard else host == self.host


def parse_rule(entry: str) -> Rule:
    """Parse one allow-list entry, or raise RuleError."""
    text = entry.strip().lower()
    host, ports = _split_port(text, entry)
    address = _address(host)
    if address is not None:
        return Rule(str(address), False, address, ports)
    wildcard = host.startswith("*.")
    name = host[2:] if wildcard else host
    name = name.removesuffix(".")
    if len(name) > 253 or not _NAME.match(name) or (wildcard and "." not in name):
        raise RuleError(f"not a host name, *.domain or IP address: {entry!r}")
    return Rule(name, wildcard, None, ports)


def _split_port(text: str, entry: str) -> tuple[str, tuple[int, ...]]:
    if text.startswith("["):  # [v6] or [v6]:port
        close = text.find("]")
        if close < 0:
            raise RuleError(f"unclosed '[' in {entry!r}")
        host, rest = text[1:close], text[close + 1 :]
        if rest and not rest.startswith(":"):
            raise RuleError(f"unexpected text after ']' in {entry!r}")
        return host, _ports(rest[1:], entry) if rest else DEFAULT_PORTS
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, _ports(port, entry)
    return text, DEFAULT_PORTS  # a name, or a bare IPv6 address (no port)


def _ports(text: str, entry: str) -> tuple[int, ...]:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:
        raise RuleError(f"port must be 1-65535 in {entry!r}")
    return (int(text),)


def _address(host: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return _plain(address)


def _plain(address: IPAddress) -> IPAddress:
    """IPv4-mapped IPv6 addresses as the IPv4 address they are."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_rules(entries: Iterable[str]) -> tuple[Rule, ...]:
    """Parse an allow-list (at most MAX_RULES entries)."""
    rules = tuple(parse_rule(e) for e in entries)
    if len(rules) > MAX_RULES:
        raise RuleError(f"at most {MAX_RULES} allow-list entries")
    return rules


@dataclass(frozen=True)
class Policy:
    """A sandbox's allow-list, and the test-only (or split-horizon) static name table."""

    rules: tuple[Rule, ...]
    hosts: Mapping[str, str]

    def target(self, host: str, port: int) -> tuple[str, IPAddress | None]:
        """The normalized host and, for an IP literal, its address; Refused when no rule
        covers `host:port`."""
        name = host.strip().lower().removeprefix("[").removesuffix("]").removesuffix(".")
        address = _address(name)
        if address is not None:
            if not self._listed(address, port):
                raise Refused(f"{host}:{port} is not in the sandbox's allow-list")
            return str(address), address
        if not _NAME.match(name) or not any(r.names(name) and port in r.ports for r in self.rules):
            raise Refused(f"{host}:{port} is not in the sandbox's allow-list")
        return name, None

    def static(self, name: str) -> str | None:
        """The static table's address for `name`, if any."""
        return self.hosts.get(name)

    def choose(self, name: str, port: int, addresses: Iterable[str]) -> IPAddress:
        """The first resolved address the policy lets `name` reach; Refused when none."""
        seen = []
        for text in addresses:
            address = _plain(ipaddress.ip_address(text.split("%")[0]))
            if address.is_global or self._listed(address, port):
                return address
            seen.append(str(address))
        raise Refused(f"{name} resolves to non-public addresses only ({', '.join(seen)})")

    def _listed(self, address: IPAddress, port: int) -> bool:
        return any(r.address == address and port in r.ports for r in self.rules)
