import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from auditd.errors import ConfigError
from auditd.settings import SECRET_NAMES, Settings


def test_database_defaults_to_sqlite_under_the_data_dir(tmp_path: Path):
    settings = Settings(data_dir=tmp_path)
    assert settings.db_url == f"sqlite:///{(tmp_path / 'auditd.db').resolve()}"
    assert settings.is_sqlite


def test_postgresql_url_switches_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AUDITD_DATABASE_URL", "postgresql+psycopg://u@h/db")
    assert Settings(data_dir=tmp_path).db_url == "postgresql+psycopg://u@h/db"


def test_secrets_are_generated_once_with_owner_only_permissions(tmp_path: Path):
    settings = Settings(data_dir=tmp_path)
    first = {name: settings.secret(name) for name in SECRET_NAMES}
    for name in SECRET_NAMES:
        path = tmp_path / "keys" / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    again = Settings(data_dir=tmp_path)
    assert {name: again.secret(name) for name in SECRET_NAMES} == first
    assert len(set(first.values())) == len(SECRET_NAMES), "each purpose gets its own key"
    assert all(len(k) == 32 for k in first.values())


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path):
    settings = Settings(data_dir=tmp_path)
    settings.secret("pseudonym_key")
    (tmp_path / "keys" / "pseudonym_key").chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        Settings(data_dir=tmp_path).secret("pseudonym_key")


@pytest.mark.parametrize("value", ["changeme", "secret", "short"])
def test_known_or_short_secrets_are_refused_outside_development(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
):
    monkeypatch.setenv("AUDITD_PSEUDONYM_KEY", value)
    with pytest.raises(ConfigError, match="AUDITD_PSEUDONYM_KEY"):
        Settings(data_dir=tmp_path).check_secrets()
    monkeypatch.setenv("AUDITD_ENV", "development")
    Settings(data_dir=tmp_path).check_secrets()


def test_a_given_secret_is_used_instead_of_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AUDITD_ENCRYPTION_KEY", "x" * 40)
    settings = Settings(data_dir=tmp_path)
    assert settings.secret("encryption_key") == Settings(data_dir=tmp_path / "other").secret("encryption_key")
    assert not (tmp_path / "keys" / "encryption_key").exists()


def test_municipality_code_check_digit_and_timezone_are_validated(tmp_path: Path):
    with pytest.raises(ValidationError, match="check digit"):
        Settings(data_dir=tmp_path, municipality_code="131015")
    with pytest.raises(ValidationError, match="time zone"):
        Settings(data_dir=tmp_path, timezone="Mars/Olympus")
    assert Settings(data_dir=tmp_path, municipality_code="131016").municipality_code == "131016"
