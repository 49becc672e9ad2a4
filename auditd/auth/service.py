"""Logging in and managing platform users. Services never commit: the caller's unit of work does.

A login is one or two steps. The password comes first; officers and administrators (every role with
``AUDITD_TOTP_ALL_ROLES``), and anyone who enrolled a second factor, then give a TOTP code before they
are logged in. Between the two steps nothing is reachable, and a password success does not clear the
failure counter: wrong codes count towards the same lockout as wrong passwords, so knowing the
password does not buy unlimited guesses at the code.

Failures are outcomes, not exceptions (:class:`LoginOutcome`, :class:`PasswordChange`), so that the
failed attempt — its trail entry, the failure counter, a lockout — commits with the caller's unit of
work instead of being rolled back with an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from auditd.auth import repository, totp
from auditd.auth.models import PlatformRole, PlatformUser
from auditd.auth.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    hash_password,
    needs_rehash,
    verify_password,
)
from auditd.auth.schemas import Principal
from auditd.auth.settings import SecuritySettings
from auditd.errors import Conflict, NotFound, ValidationFailed
from auditd.privacy.vault import Vault
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


def password_problem(password: str, username: str) -> str | None:
    """What is wrong with ``password`` as a new password, in words for the person, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"パスワードは{MIN_PASSWORD_LENGTH}文字以上にしてください / at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"パスワードは{MAX_PASSWORD_LENGTH}文字以内にしてください / at most {MAX_PASSWORD_LENGTH} characters"
    if password.strip().casefold() == username.strip().casefold():
        return "ユーザー名と同じパスワードは使えません / the password must differ from the username"
    return None


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
    problem = password_problem(password, username)
    if problem:
        raise ValidationFailed(problem)
    if role is PlatformRole.SECTION_HEAD and not section_code:
        raise ValidationFailed("a section head needs a section (所属)")
    if repository.by_username(session, municipality_code, username) is not None:
        raise Conflict(f"a platform user named {username!r} already exists")
    now = datetime.now(UTC)
    user = repository.add(
        session,
        municipality_code=municipality_code,
        username=username,
        display_name=display_name or username,
        role=role.value,
        section_code=section_code,
        password_hash=hash_password(password),
        created_at=now,
        password_changed_at=now,
        failed_logins=0,
        disabled=False,
        session_epoch=0,
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


# -- logging in -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingFactor:
    """The password was right; a second factor is due. ``enrol``: the user has none yet and sets it up."""

    user_id: int
    username: str
    enrol: bool


@dataclass(frozen=True)
class LoginOutcome:
    """The result of a login step: logged in (``principal``), a second factor due (``pending``), or
    refused (``reason``). ``principal`` is set only when the login is complete."""

    principal: Principal | None
    reason: str | None = None
    pending: PendingFactor | None = None
    session_epoch: int = 0

    @property
    def message(self) -> str:
        if self.reason == "locked":
            return "アカウントが一時的にロックされています。しばらくしてから再度お試しください。"
        if self.reason == "totp_not_enrolled":
            return "二要素認証（TOTP）が未設定です。管理者に `auditd user totp` での登録を依頼してください。"
        if self.reason in ("totp", "totp_replayed"):
            return "確認コードが違います。認証アプリの最新のコードを入力してください。"
        return "ユーザー名またはパスワードが違います。"


def _second_factor_due(user: PlatformUser, security: SecuritySettings) -> bool:
    return user.totp_sealed is not None or security.totp_required(PlatformRole(user.role))


def _count_failure(
    session: Session, user: PlatformUser, now: datetime, detail: dict[str, object], client: str | None
) -> bool:
    """Count a failed attempt (wrong password or wrong code); lock at the limit. True if it locked now."""
    failed = user.failed_logins + 1
    locked = now + LOCKOUT if failed >= MAX_FAILED_LOGINS else None
    repository.set_login_state(session, user.id, failed_logins=failed, locked_until=locked)
    connection = session.connection()
    record(
        connection,
        user.municipality_code,
        user.username,
        str(detail.pop("action", "login_failed")),
        "platform_user",
        user.username,
        {**detail, "failed_logins": failed},
        client,
    )
    if locked is not None:
        record(
            connection,
            user.municipality_code,
            user.username,
            "account_locked",
            "platform_user",
            user.username,
            {"until": locked.isoformat(), "failed_logins": failed},
            client,
        )
    return locked is not None


def authenticate(
    session: Session,
    municipality_code: str,
    username: str,
    password: str,
    *,
    client: str | None = None,
    security: SecuritySettings | None = None,
) -> LoginOutcome:
    """Check the password step of a login. Failures are recorded and count towards a temporary lockout.

    The password is verified (Argon2id) whether or not the account exists, is disabled or is locked,
    so the time an answer takes does not tell which. Accounts of role ``api`` stand for other systems
    and never log in interactively: they use API tokens.
    """
    security = security or SecuritySettings()
    now = datetime.now(UTC)
    user = repository.by_username(session, municipality_code, username)
    ok = verify_password(user.password_hash if user else None, password)
    connection = session.connection()
    if user is None or user.disabled or user.role == PlatformRole.API.value:
        reason = "api_role" if user is not None and not user.disabled and ok else "unknown_or_disabled"
        record(
            connection,
            municipality_code,
            username[:64] or "?",
            "login_failed",
            "platform_user",
            username[:64],
            {"reason": reason},
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
        # The answer stays "wrong password" when this failure locks: the next attempt says locked.
        _count_failure(session, user, now, {"reason": "password"}, client)
        return LoginOutcome(None, "password")
    if needs_rehash(user.password_hash):
        repository.set_login_state(session, user.id, password_hash=hash_password(password))
    if _second_factor_due(user, security):
        enrol = user.totp_sealed is None
        if enrol and not security.totp_enrol_at_login:
            record(
                connection,
                municipality_code,
                username,
                "login_failed",
                "platform_user",
                username,
                {"reason": "totp_not_enrolled"},
                client,
            )
            return LoginOutcome(None, "totp_not_enrolled")
        record(
            connection,
            municipality_code,
            username,
            "login_password_ok",
            "platform_user",
            username,
            {"next": "totp_enrolment" if enrol else "totp"},
            client,
        )
        return LoginOutcome(None, pending=PendingFactor(user.id, user.username, enrol))
    repository.touch_login(session, user.id, now)
    record(connection, municipality_code, username, "login", "platform_user", username, {"factors": "password"}, client)
    return LoginOutcome(principal_of(user), session_epoch=user.session_epoch)


def verify_second_factor(
    session: Session,
    vault: Vault,
    user_id: int,
    code: str,
    *,
    enrol_secret: str | None = None,
    client: str | None = None,
) -> LoginOutcome:
    """Check the TOTP step of a login (the user's stored secret, or ``enrol_secret`` being set up).

    A code is accepted once: for a step later than the last one accepted (a replay inside its window
    is refused). Wrong codes count towards the lockout. Enrolment stores the secret sealed only once
    a code from it has been typed back, so a mistyped secret never locks a person out.
    """
    now = datetime.now(UTC)
    user = repository.by_id(session, user_id)
    connection = session.connection()
    if user is None or user.disabled:
        return LoginOutcome(None, "password")
    if user.locked_until is not None and user.locked_until > now:
        record(
            connection,
            user.municipality_code,
            user.username,
            "login_failed",
            "platform_user",
            user.username,
            {"reason": "locked", "step": "totp"},
            client,
        )
        return LoginOutcome(None, "locked")
    enrolling = user.totp_sealed is None
    if enrolling and enrol_secret is None:
        return LoginOutcome(None, "totp_not_enrolled")
    secret = enrol_secret if enrolling and enrol_secret else None
    if secret is None:
        assert user.totp_sealed is not None
        secret = totp.open_sealed(vault, user.municipality_code, user.id, user.totp_sealed)
    step = totp.matching_step(secret, code, after=None if enrolling else user.totp_last_step)
    if step is None or not repository.claim_totp_step(session, user.id, step):
        replayed = step is not None or (
            not enrolling and totp.matching_step(secret, code) is not None
        )  # right code, but its step was used already
        reason = "totp_replayed" if replayed else "totp"
        action = "totp_enrolment_failed" if enrolling else "totp_failed"
        locked_now = _count_failure(session, user, now, {"action": action, "reason": reason}, client)
        return LoginOutcome(None, "locked" if locked_now else reason)
    if enrolling:
        repository.set_login_state(
            session, user.id, totp_sealed=totp.seal(vault, user.municipality_code, user.id, secret)
        )
        record(
            connection,
            user.municipality_code,
            user.username,
            "totp_enrolled",
            "platform_user",
            user.username,
            {"via": "dashboard"},
            client,
        )
    repository.touch_login(session, user.id, now)
    record(
        connection,
        user.municipality_code,
        user.username,
        "login",
        "platform_user",
        user.username,
        {"factors": "password,totp"},
        client,
    )
    return LoginOutcome(principal_of(user), session_epoch=user.session_epoch)


def enrol_totp(
    session: Session, vault: Vault, municipality_code: str, username: str, *, reset: bool = False, actor: str
) -> str:
    """Give ``username`` a new TOTP secret, stored sealed; returns the secret to show once.

    An existing secret is replaced only with ``reset`` (a lost phone): replacing it silently would
    let anyone with the command undo a person's second factor unnoticed. Either way it is recorded.
    """
    user = repository.by_username(session, municipality_code, username)
    if user is None:
        raise NotFound(f"no platform user named {username!r}", hint="`auditd user list` shows them")
    if user.role == PlatformRole.API.value:
        raise ValidationFailed(f"{username} has role api: API clients use tokens and never log in interactively")
    replacing = user.totp_sealed is not None
    if replacing and not reset:
        raise Conflict(
            f"{username} already has a second factor",
            hint=f"`auditd user totp {username} --reset` replaces it (the old authenticator entry stops working)",
        )
    secret = totp.new_secret()
    repository.set_login_state(
        session, user.id, totp_sealed=totp.seal(vault, municipality_code, user.id, secret), totp_last_step=None
    )
    record(
        session.connection(),
        municipality_code,
        actor,
        "totp_reset" if replacing else "totp_enrolled",
        "platform_user",
        username,
        {"via": "cli"},
        "cli",
    )
    return secret


# -- sessions ---------------------------------------------------------------------------------------


def session_principal(session: Session, user_id: int, epoch: int) -> Principal | None:
    """The principal of a session opened in ``epoch``; None if the user is gone, disabled, or the
    session was ended since (logout or password change raised the user's epoch)."""
    user = repository.by_id(session, user_id)
    if user is None or user.disabled or user.session_epoch != epoch:
        return None
    return principal_of(user)


def load_principal(session: Session, user_id: int) -> Principal | None:
    user = repository.by_id(session, user_id)
    if user is None or user.disabled:
        return None
    return principal_of(user)


def logout(session: Session, principal: Principal, *, client: str | None = None) -> None:
    """End every session of the user (the cookie the browser drops, and any copy of it) and record it."""
    if principal.user_id is None:
        return
    user = repository.by_id(session, principal.user_id)
    if user is None:
        return
    repository.set_login_state(session, user.id, session_epoch=user.session_epoch + 1)
    record(
        session.connection(),
        user.municipality_code,
        user.username,
        "logout",
        "platform_user",
        user.username,
        None,
        client,
    )


# -- passwords --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PasswordChange:
    """The result of a person changing their own password; ``problem`` says what to fix when refused."""

    ok: bool
    problem: str | None = None
    session_epoch: int = 0


def change_password(
    session: Session, user_id: int, current: str, new: str, *, client: str | None = None
) -> PasswordChange:
    """A person changes their own password, proving they know the current one.

    A wrong current password counts towards the lockout (a session left open must not become a way
    to guess the password). Success ends every other session of the person.
    """
    now = datetime.now(UTC)
    user = repository.by_id(session, user_id)
    if user is None or user.disabled:
        return PasswordChange(False, "ログインし直してください / please log in again")
    if user.locked_until is not None and user.locked_until > now:
        return PasswordChange(False, LoginOutcome(None, "locked").message)
    if not verify_password(user.password_hash, current):
        locked_now = _count_failure(
            session, user, now, {"action": "password_change_failed", "reason": "current_password"}, client
        )
        message = "現在のパスワードが違います / the current password is wrong"
        return PasswordChange(False, LoginOutcome(None, "locked").message if locked_now else message)
    problem = password_problem(new, user.username)
    if problem is None and verify_password(user.password_hash, new):
        problem = "新しいパスワードが現在のものと同じです / the new password is the current one"
    if problem:
        return PasswordChange(False, problem)
    epoch = user.session_epoch + 1
    repository.set_login_state(
        session,
        user.id,
        password_hash=hash_password(new),
        password_changed_at=now,
        session_epoch=epoch,
        failed_logins=0,
    )
    record(
        session.connection(),
        user.municipality_code,
        user.username,
        "password_changed",
        "platform_user",
        user.username,
        {"via": "dashboard"},
        client,
    )
    return PasswordChange(True, session_epoch=epoch)


def set_password(session: Session, municipality_code: str, username: str, new: str, *, actor: str) -> None:
    """An administrator sets a user's password (``auditd user password``): the user's sessions end and
    a lockout is lifted, as the person has been identified out of band."""
    user = repository.by_username(session, municipality_code, username)
    if user is None:
        raise NotFound(f"no platform user named {username!r}", hint="`auditd user list` shows them")
    problem = password_problem(new, username)
    if problem:
        raise ValidationFailed(problem)
    repository.set_login_state(
        session,
        user.id,
        password_hash=hash_password(new),
        password_changed_at=datetime.now(UTC),
        session_epoch=user.session_epoch + 1,
        failed_logins=0,
        locked_until=None,
    )
    record(
        session.connection(),
        municipality_code,
        actor,
        "password_changed",
        "platform_user",
        username,
        {"via": "cli"},
        "cli",
    )


def record_rate_limited(
    session: Session,
    municipality_code: str,
    username: str,
    *,
    limited_by: str,
    retry_after: int,
    step: str,
    client: str | None = None,
) -> None:
    """Record that login attempts were refused for going too fast (once per refusal, not per request)."""
    record(
        session.connection(),
        municipality_code,
        username[:64] or "?",
        "login_rate_limited",
        "platform_user",
        username[:64],
        {"by": limited_by, "step": step, "retry_after": retry_after},
        client,
    )
