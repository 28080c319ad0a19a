"""The settings tree: env names, aliases, and clear rejection of bad configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from neo.settings import ConfigError, load_settings, unknown_env_keys


def test_nested_env_variables_reach_their_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEO_API__PORT", "8123")
    monkeypatch.setenv("NEO_KEYS__KEYSET", "blue")
    monkeypatch.setenv("NEO_DATA_DIR", "/tmp/neo-settings-test")
    core = load_settings().core()
    assert (core.api.port, core.keys.keyset, core.data_dir) == (
        8123,
        "blue",
        Path("/tmp/neo-settings-test"),
    )


def test_supabase_style_names_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db.example:5432/app")
    monkeypatch.setenv("JWT_SECRET", "x" * 40)
    core = load_settings().core()
    assert core.db.url is not None
    assert core.db.url.get_secret_value() == "postgresql://u:p@db.example:5432/app"
    assert core.keys.jwt_secret is not None
    assert core.keys.jwt_secret.get_secret_value() == "x" * 40


def test_secrets_do_not_show_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:hunter2@db.example/app")
    assert "hunter2" not in repr(load_settings().core())


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("NEO_API__PORT", "not-a-port", "api.port"),
        ("NEO_API__PORT", "70000", "api.port"),
        ("NEO_API__PROT", "80", "api.prot"),
        ("NEO_KEYS__KEYSET", "Bad Name!", "keys.keyset"),
        ("NEO_LOG__LEVEL", "chatty", "log.level"),
    ],
)
def test_bad_values_name_the_key(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=expected):
        load_settings()


def test_unknown_neo_variables_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEO_BOGUS", "1")
    with pytest.raises(ConfigError, match="NEO_BOGUS"):
        load_settings()


def test_unknown_env_keys_allows_sections_scalars_and_test_variables() -> None:
    env = {
        "NEO_API__PORT": "1",
        "NEO_DATA_DIR": "x",
        "NEO_TEST_DATABASE_URL": "x",
        "NEO_API": "1",
        "NEO_NOPE__X": "1",
        "PATH": "/bin",
    }
    assert unknown_env_keys(env) == ["NEO_API", "NEO_NOPE__X"]


def test_dotenv_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("NEO_API__PORT=9001\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings().core().api.port == 9001


def test_unknown_key_in_dotenv_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("NEO_WHATEVER=1\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="whatever"):
        load_settings()
