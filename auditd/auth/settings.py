"""Settings of the platform's own security: second factor, sessions, login rate limits.

They are read from the same ``AUDITD_*`` environment variables (and ``.env`` file) as
:class:`auditd.settings.Settings`, in a class of their own so that the authentication code owns its
knobs; ``create_app`` takes one (tests pass theirs) and falls back to the environment.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from auditd.auth.models import PlatformRole

#: Roles that must always log in with a second factor: those who see resident data or change the
#: platform's configuration. ``AUDITD_TOTP_ALL_ROLES=true`` extends it to every role that logs in.
TOTP_REQUIRED_ROLES = frozenset({PlatformRole.OFFICER, PlatformRole.ADMIN})


class SecuritySettings(BaseSettings):
    """Environment variables are the field names in upper case with ``AUDITD_``."""

    model_config = SettingsConfigDict(env_prefix="AUDITD_", env_file=".env", env_file_encoding="utf-8", extra="ignore")

    totp_all_roles: bool = Field(
        False, description="require the TOTP second factor of every role (officers and administrators always)"
    )
    totp_enrol_at_login: bool = Field(
        True,
        description="a user who must have TOTP but has none enrols at the first login (shown the secret once); "
        "false: only `auditd user totp` enrols",
    )
    totp_issuer: str = Field("auditd", min_length=1, max_length=64, description="issuer shown in authenticator apps")
    login_pending_seconds: int = Field(
        300, ge=30, le=1800, description="time to enter the second factor after the password"
    )
    session_idle_minutes: int = Field(30, ge=1, le=24 * 60, description="a session unused this long ends")
    session_absolute_hours: int = Field(8, ge=1, le=24, description="a session ends this long after login, used or not")
    login_rate_window_seconds: int = Field(300, ge=1, description="sliding window of the login rate limits")
    login_rate_per_ip: int = Field(
        30, ge=1, description="login and second-factor attempts per client address per window"
    )
    login_rate_per_user: int = Field(10, ge=1, description="login and second-factor attempts per username per window")
    token_failures_per_ip: int = Field(
        20, ge=1, description="refused API tokens per client address per window before it gets 429"
    )

    def totp_required(self, role: PlatformRole) -> bool:
        return self.totp_all_roles or role in TOTP_REQUIRED_ROLES
