"""The vault: one encrypted copy of each resident identifier, keyed by its pseudonym.

Events carry only the pseudonym; the identifier is stored once here, encrypted, and decrypted only
when an authorised officer asks to reveal it (and that reveal is recorded in the platform trail).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from auditd.store.base import Base, UTCDateTime


class Subject(Base):
    __tablename__ = "subjects"

    subject_hash: Mapped[str] = mapped_column(String(32), primary_key=True)
    municipality_code: Mapped[str] = mapped_column(String(6), primary_key=True, sort_order=-100)
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary)  # NULL when the identifier was a 個人番号
    is_mynumber: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
