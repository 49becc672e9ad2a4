"""All SQL about platform users."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from auditd.auth.models import PlatformUser


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
