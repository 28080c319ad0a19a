"""Prometheus metrics of one app: request counts and latency by route, and pool usage.

Each app owns its registry (no process-global state), exposed at `/metrics`. With several
worker processes each one reports its own series.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

PoolStats = Callable[[], dict[str, tuple[int, int]]]  # pool name -> (size, idle)


class _PoolCollector(Collector):
    def __init__(self, stats: PoolStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[GaugeMetricFamily]:
        size = GaugeMetricFamily("neo_db_pool_connections", "Open connections", labels=["pool"])
        idle = GaugeMetricFamily("neo_db_pool_idle", "Idle connections", labels=["pool"])
        for name, (total, free) in self.stats().items():
            size.add_metric([name], total)
            idle.add_metric([name], free)
        yield size
        yield idle


class Metrics:
    """The registry and instruments of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "neo_http_requests",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "neo_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
        )

    def watch_pools(self, stats: PoolStats) -> None:
        """Report pool sizes from `stats` at each scrape."""
        self.registry.register(_PoolCollector(stats))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one finished request."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
