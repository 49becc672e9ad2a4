"""One place for configuration: environment variables with the prefix ``AUDITD_`` (or a ``.env`` file).

Everything has a default that works on one machine with the embedded SQLite store. Secrets that
are not given are generated into ``<data_dir>/keys`` on first use, readable by the owner only;
secrets left at a well-known value are refused outside development.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from auditd.errors import ConfigError

#: The secrets auditd needs, and what each protects.
SECRET_NAMES: dict[str, str] = {
    "pseudonym_key": "keyed hash (HMAC) of resident identifiers, used for joins and search",
    "encryption_key": "authenticated encryption of resident identifiers, for display to officers",
    "session_secret": "signature of dashboard session cookies and CSRF tokens",
    "chain_key": "keyed digests of the tamper-evident chain over stored events",
}

#: Values that appear in examples and tutorials; refused outside development.
KNOWN_DEFAULTS = frozenset(
    {
        "",
        "changeme",
        "changethis",
        "change-me",
        "secret",
        "default",
        "password",
        "auditd",
        "test",
        "dev",
        "development",
        "example",
        "xxxxxxxx",
        "0000000000000000",
    }
)
MIN_SECRET_LENGTH = 16

#: The demo municipality: prefecture 99 does not exist, the sixth digit is a valid check digit.
DEMO_MUNICIPALITY_CODE = "999997"


class Settings(BaseSettings):
    """All settings of auditd. Environment variables are the field names in upper case with ``AUDITD_``."""

    model_config = SettingsConfigDict(env_prefix="AUDITD_", env_file=".env", env_file_encoding="utf-8", extra="ignore")

    env: Literal["development", "test", "production"] = Field(
        "production", description="development relaxes the checks on secrets; nothing else changes"
    )
    data_dir: Path = Field(Path("var"), description="where the SQLite store, keys and generated files live")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; default sqlite:///<data_dir>/auditd.db; postgresql+psycopg://… for PostgreSQL",
    )
    municipality_code: str = Field(
        DEMO_MUNICIPALITY_CODE, description="全国地方公共団体コード used when a command or feed does not say"
    )
    timezone: str = Field("Asia/Tokyo", description="time zone of source timestamps that carry none")
    language: Literal["ja", "en"] = Field("ja", description="language of the dashboard, e-mails and reports")

    host: str = "127.0.0.1"
    port: int = 8000
    base_url: str | None = Field(None, description="public URL of the dashboard, used in e-mail links")

    pseudonym_key: SecretStr | None = None
    encryption_key: SecretStr | None = None
    session_secret: SecretStr | None = None
    chain_key: SecretStr | None = None

    ingest_chunk_rows: int = Field(50_000, ge=1_000, description="records parsed and stored per transaction")
    push_max_body_bytes: int = Field(32 * 1024 * 1024, ge=1024, description="largest body of one HTTP push")
    push_max_lines: int = Field(200_000, ge=1, description="most lines read from one HTTP push")
    # -- listener spool (collectors.listeners.spool; see docs/collectors.md)
    spool_dir: Path | None = Field(
        None,
        description="where listeners keep what they received until it is stored (one folder each); "
        "unset = <data_dir>/spool. Raw messages: a local, encrypted, access-restricted disk",
    )
    spool_max_bytes: int = Field(1 << 30, ge=1 << 20, description="most disk one listener's spool may take")
    import_max_body_bytes: int = Field(256 * 1024 * 1024, ge=1024, description="largest reference-feed upload")
    scheduler_enabled: bool = Field(
        True, description="`auditd serve` runs the scheduled jobs; turn it off on all but one server sharing a store"
    )
    rights_personnel_action: Literal["suspend", "flag"] = Field(
        "suspend",
        description="what the personnel feed (transfers, retirements) does to an active grant that lapses: "
        "suspend it, or only flag it for a person to decide",
    )
    # -- recertification campaigns (auditd.rights.campaigns; see docs/rights.md)
    recert_open_on: str | None = Field(
        "04-15",
        pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$",
        description="MM-DD: the yearly recertification campaign (権限表の見直し) opens on this day; empty: never",
    )
    recert_days: int = Field(30, ge=1, le=365, description="days from a campaign's opening to its deadline")
    recert_usage_months: int = Field(
        3, ge=1, le=24, description="months of use (account_days) shown next to each grant under review"
    )
    recert_remind_days: int = Field(
        7, ge=0, le=90, description="section heads with undecided items are reminded this many days before the deadline"
    )
    recert_escalate_days: int = Field(
        0, ge=0, le=90, description="non-responders are escalated to the officers this many days after the deadline"
    )
    # -- end recertification campaigns
    policy_dir: Path | None = Field(
        None, description="a directory of policy YAML files that override the built-in defaults (see docs/policies.md)"
    )
    detectors: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description='thresholds of detectors by code over their defaults, e.g. {"D06": {"min_looks": 4}}',
    )
    detectors_disabled: list[str] = Field(
        default_factory=list, description="detector codes not to run (their findings are not produced)"
    )
    case_gap_days: int = Field(
        7, ge=0, le=90, description="an alert joins an open case of the same account (or resident) this close in time"
    )
    case_reminder_days: int = Field(
        7, ge=1, description="a case not closed after this many days is in the reminder e-mails, every day"
    )
    breach_preliminary_days: int = Field(
        5, ge=1, le=10, description="days from discovery to the 速報 deadline (the PPC asks for about 3–5 days)"
    )

    # -- reports (reports/; see docs/reports.md) ----------------------------------------------------------
    report_show_staff: bool = Field(
        False, description="a disclosure report names the staff who accessed (else only their section)"
    )
    report_formats: list[Literal["pdf", "html", "xlsx"]] = Field(
        default_factory=lambda: ["pdf", "xlsx"],  # type: ignore[arg-type]
        description="formats the scheduled reports are made in",
    )
    report_annual_on: str = Field(
        "04-15",
        pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$",
        description="MM-DD: from this day the annual report of the fiscal year just ended is made (if missing)",
    )
    attestation_max_bytes: int = Field(
        20 * 1024 * 1024, ge=1024, description="largest evidence file attached to an attestation (自己点検の証跡)"
    )
    pia_reminder_days: int = Field(
        30, ge=1, le=365, description="a PIA review or re-assessment due within this many days is in the reminders"
    )

    # -- partitions, archives and retention of events (auditd.archive; see docs/postgresql.md) -------------
    partitions_ahead_months: int = Field(
        3, ge=0, le=24, description="PostgreSQL: monthly partitions of events kept created ahead of this month"
    )
    archive_dir: Path | None = Field(
        None, description="where `auditd db archive` writes Parquet files; unset = <data_dir>/archive"
    )
    retention_years: int = Field(
        7, ge=1, le=100, description="events older than this many years may be purged (only archived months)"
    )
    retention_enabled: bool = Field(
        False, description="the monthly job purges archived months past retention (off: purging is a decision)"
    )

    # -- e-mail of alerts (auditd.mail; see docs/mail.md) ---------------------------------------------
    smtp_host: str | None = Field(None, description="SMTP server; unset = mail is queued but not sent")
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP port (587 STARTTLS, 465 implicit TLS, 25 none)")
    smtp_security: Literal["none", "starttls", "tls"] = Field(
        "starttls", description="none, starttls (upgrade after connecting) or tls (implicit TLS, port 465)"
    )
    smtp_username: str | None = Field(None, description="SMTP AUTH user; unset = no authentication")
    smtp_password: SecretStr | None = Field(None, description="SMTP AUTH password")
    smtp_from: str = Field("auditd@localhost", description="From: address of the mail auditd sends")
    smtp_timeout: float = Field(30.0, gt=0, description="seconds to wait for the SMTP server at each step")
    smtp_ca_file: Path | None = Field(
        None, description="a PEM bundle of CA certificates to trust for the SMTP server (a private CA)"
    )
    mail_retry_max: int = Field(8, ge=1, description="attempts at sending one message before it is failed")
    mail_retry_base_seconds: float = Field(
        60.0, gt=0, description="wait after the first failed attempt; doubled after each further one"
    )

    @field_validator("municipality_code")
    @classmethod
    def _check_code(cls, value: str) -> str:
        from auditd.jp.codes import validate_municipality_code

        return validate_municipality_code(value)

    @field_validator("timezone")
    @classmethod
    def _check_tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except Exception as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    # -- derived -------------------------------------------------------------------------------------

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'auditd.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.db_url.startswith("sqlite")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def dashboard_url(self) -> str:
        return self.base_url or f"http://{self.host}:{self.port}/"

    def secret(self, name: str) -> bytes:
        """Key material for ``name`` (one of :data:`SECRET_NAMES`), 32 bytes.

        Taken from the setting when given, else from ``<data_dir>/keys/<name>`` (created on first use
        with mode 0600). The raw value is stretched with SHA-256 and the name, so one value given
        for two purposes still yields two different keys.
        """
        if name not in SECRET_NAMES:
            raise ConfigError(f"unknown secret {name!r}")
        given: SecretStr | None = getattr(self, name)
        if given is not None:
            raw = given.get_secret_value()
            self._refuse_weak(name, raw)
        else:
            raw = _read_or_create_key_file(self.data_dir / "keys" / name)
        return hashlib.sha256(f"auditd:{name}:".encode() + raw.encode()).digest()

    def _refuse_weak(self, name: str, raw: str) -> None:
        if self.env == "development":
            return
        if raw.strip().lower() in KNOWN_DEFAULTS or len(raw) < MIN_SECRET_LENGTH:
            raise ConfigError(
                f"AUDITD_{name.upper()} is set to a well-known or short value ({len(raw)} characters)",
                hint=f"unset it to have a random key generated under {self.data_dir / 'keys'}, "
                f"or give at least {MIN_SECRET_LENGTH} random characters; AUDITD_ENV=development skips this check",
            )

    def check_secrets(self) -> None:
        """Resolve every secret now, so a bad one stops start-up with a clear message."""
        for name in SECRET_NAMES:
            self.secret(name)


def _read_or_create_key_file(path: Path) -> str:
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise ConfigError(f"key file {path} is readable by others (mode {mode:o})", hint=f"chmod 600 {path}")
        value = path.read_text(encoding="ascii").strip()
        if not value:
            raise ConfigError(f"key file {path} is empty", hint="restore it from backup; a new key orphans stored data")
        return value
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii").rstrip("=")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return _read_or_create_key_file(path)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(value + "\n")
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
