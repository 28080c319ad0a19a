"""Pool sizing: the server's connections are shared between processes and pools."""

from __future__ import annotations

import pytest

from neo.core.db import RESERVED_CONNECTIONS, size_pools


@pytest.mark.parametrize(
    ("max_connections", "workers", "pool_max"),
    [(100, 1, 20), (200, 1, 20), (200, 4, 20), (100, 8, 50), (20, 2, 20), (500, 1, 200)],
)
def test_all_processes_fit_in_the_server(max_connections: int, workers: int, pool_max: int) -> None:
    sizes = size_pools(max_connections, workers=workers, pool_max=pool_max)
    assert sizes.admin >= 2
    assert sizes.api >= 2
    assert sizes.admin <= pool_max
    assert sizes.api <= pool_max
    if max_connections - RESERVED_CONNECTIONS >= 4 * workers:
        assert workers * (sizes.admin + sizes.api) <= max_connections - RESERVED_CONNECTIONS


def test_owner_pool_gets_a_real_share_on_a_roomy_server() -> None:
    sizes = size_pools(200, workers=1, pool_max=20)
    assert sizes.admin >= 10
    assert sizes.api == 20
