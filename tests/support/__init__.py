"""Test support: a real PostgreSQL (embedded or NEO_TEST_DATABASE_URL), template databases,
the real app in-process and on a loopback port."""
