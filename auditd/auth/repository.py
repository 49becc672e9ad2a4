"""All SQL about platform users and their API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update
from sqlalchemy.orm import Session

from auditd.auth.models import ApiToken, PlatformUser
from auditd.store.base import table_of

# -- users ------------------------------------------------------------------------------------------


def by_username(session: Session, municipality_code: str, username: str) -> PlatformUser | None:
    return session.scalars(
        select(PlatformUser).where(
            PlatformUser.municipality_code == municipality_code, PlatformUser.username == username
        )
    ).first()


def by_id(session: Session, user_id: int) -> PlatformUser | None:
    return session.get(PlatformUser, user_id)


def add(session: Session, **values: Any) -> PlatformUser:
    user = PlatformUser(**values)
    session.add(user)
    session.flush()
    return user


def set_login_state(session: Session, user_id: int, **values: Any) -> None:
    session.execute(update(PlatformUser).where(PlatformUser.id == user_id).values(**values))


def list_users(session: Session, municipality_code: str) -> list[PlatformUser]:
    return list(
        session.scalars(
            select(PlatformUser)
            .where(PlatformUser.municipality_code == municipality_code)
            .order_by(PlatformUser.username)
        )
    )


def touch_login(session: Session, user_id: int, when: datetime) -> None:
    set_login_state(session, user_id, last_login_at=when, failed_logins=0, locked_until=None)


def claim_totp_step(session: Session, user_id: int, step: int) -> bool:
    """Record ``step`` as the last accepted one unless an equal or later step was accepted already.

    One conditional UPDATE, so of two requests racing with the same code exactly one wins on both
    backends (the loser sees no row changed).
    """
    result = session.execute(
        update(PlatformUser)
        .where(
            PlatformUser.id == user_id,
            or_(PlatformUser.totp_last_step.is_(None), PlatformUser.totp_last_step < step),
        )
        .values(totp_last_step=step)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def user_row(connection: Connection, user_id: int) -> dict[str, Any] | None:
    """A user's row through a plain connection (token checks run outside the request's ORM session)."""
    row = connection.execute(select(table_of(PlatformUser)).where(PlatformUser.id == user_id)).first()
    return None if row is None else dict(row._mapping)


def user_row_by_name(connection: Connection, municipality_code: str, username: str) -> dict[str, Any] | None:
    stmt = select(table_of(PlatformUser)).where(
        PlatformUser.municipality_code == municipality_code, PlatformUser.username == username
    )
    row = connection.execute(stmt).first()
    return None if row is None else dict(row._mapping)


# -- API tokens -------------------------------------------------------------------------------------


def token_by_hash(connection: Connection, token_hash: str) -> dict[str, Any] | None:
    row = connection.execute(select(table_of(ApiToken)).where(ApiToken.token_hash == token_hash)).first()
    return None if row is None else dict(row._mapping)


def token_by_name(connection: Connection, municipality_code: str, name: str) -> dict[str, Any] | None:
    stmt = select(table_of(ApiToken)).where(ApiToken.municipality_code == municipality_code, ApiToken.name == name)
    row = connection.execute(stmt).first()
    return None if row is None else dict(row._mapping)


def add_token(connection: Connection, **values: Any) -> int:
    return int(connection.execute(insert(ApiToken).values(**values).returning(ApiToken.id)).scalar_one())


def revoke_token(connection: Connection, token_id: int, when: datetime, by: str) -> None:
    connection.execute(update(ApiToken).where(ApiToken.id == token_id).values(revoked_at=when, revoked_by=by))


def touch_token(connection: Connection, token_id: int, when: datetime, older_than: datetime) -> None:
    """Set ``last_used_at`` unless it was set after ``older_than``: at most one write a minute per token,
    however busy the caller, instead of one per request."""
    connection.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < older_than),
        )
        .values(last_used_at=when)
    )


def list_tokens(connection: Connection, municipality_code: str) -> list[dict[str, Any]]:
    """Every token of the municipality with its owner's username (None for a system's token)."""
    tokens = table_of(ApiToken)
    users = table_of(PlatformUser)
    stmt = (
        select(tokens, users.c.username.label("owner"))
        .select_from(tokens.outerjoin(users, users.c.id == tokens.c.user_id))
        .where(tokens.c.municipality_code == municipality_code)
        .order_by(tokens.c.name)
    )
    return [dict(row._mapping) for row in connection.execute(stmt)]
