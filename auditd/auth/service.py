"""Logging in and managing platform users. Services never commit: the caller's unit of work does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from auditd.auth import repository
from auditd.auth.models import PlatformRole, PlatformUser
from auditd.auth.passwords import MIN_PASSWORD_LENGTH, hash_password, needs_rehash, verify_password
from auditd.auth.schemas import Principal
from auditd.errors import Conflict, ValidationFailed
from auditd.trail.service import record

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)


def principal_of(user: PlatformUser) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=PlatformRole(user.role),
        municipality_code=user.municipality_code,
        section_code=user.section_code,
    )


def create_user(
    session: Session,
    municipality_code: str,
    username: str,
    password: str,
    role: PlatformRole,
    *,
    display_name: str | None = None,
    section_code: str | None = None,
    actor: str = "system",
) -> PlatformUser:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if role is PlatformRole.SECTION_HEAD and not section_code:
        raise ValidationFailed("a section head needs a section (所属)")
    if repository.by_username(session, municipality_code, username) is not None:
        raise Conflict(f"a platform user named {username!r} already exists")
    user = repository.add(
        session,
        municipality_code=municipality_code,
        username=username,
        display_name=display_name or username,
        role=role.value,
        section_code=section_code,
        password_hash=hash_password(password),
        created_at=datetime.now(UTC),
        failed_logins=0,
        disabled=False,
    )
    record(
        session.connection(),
        municipality_code,
        actor,
        "create_user",
        "platform_user",
        username,
        {"role": role.value},
    )
    return user


@dataclass(frozen=True)
class LoginOutcome:
    """The result of a login attempt. A failure is an outcome, not an exception, so that the failed
    attempt (trail entry, failure counter, lockout) commits with the caller's unit of work."""

    principal: Principal | None
    reason: str | None = None

    @property
    def message(self) -> str:
        if self.reason == "locked":
            return "アカウントが一時的にロックされています。しばらくしてから再度お試しください。"
        return "ユーザー名またはパスワードが違います。"


def authenticate(
    session: Session, municipality_code: str, username: str, password: str, *, client: str | None = None
) -> LoginOutcome:
    """Check a password login. Failures are recorded and count towards a temporary lockout."""
    now = datetime.now(UTC)
    user = repository.by_username(session, municipality_code, username)
    ok = verify_password(user.password_hash if user else None, password)
    connection = session.connection()
    if user is None or user.disabled:
        record(
            connection,
            municipality_code,
            username[:64] or "?",
            "login_failed",
            "platform_user",
            username[:64],
            {"reason": "unknown_or_disabled"},
            client,
        )
        return LoginOutcome(None, "password")
    if user.locked_until is not None and user.locked_until > now:
        record(
            connection,
            municipality_code,
            username,
            "login_failed",
            "platform_user",
            username,
            {"reason": "locked"},
            client,
        )
        return LoginOutcome(None, "locked")
    if not ok:
        failed = user.failed_logins + 1
        locked = now + LOCKOUT if failed >= MAX_FAILED_LOGINS else None
        repository.set_login_state(session, user.id, failed_logins=failed, locked_until=locked)
        record(
            connection,
            municipality_code,
            username,
            "login_failed",
            "platform_user",
            username,
            {"reason": "password", "failed_logins": failed},
            client,
        )
        return LoginOutcome(None, "password")
    if needs_rehash(user.password_hash):
        repository.set_login_state(session, user.id, password_hash=hash_password(password))
    repository.touch_login(session, user.id, now)
    record(connection, municipality_code, username, "login", "platform_user", username, None, client)
    return LoginOutcome(principal_of(user))


def load_principal(session: Session, user_id: int) -> Principal | None:
    user = repository.by_id(session, user_id)
    if user is None or user.disabled:
        return None
    return principal_of(user)
