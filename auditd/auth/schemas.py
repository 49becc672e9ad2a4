"""Who is asking: the authenticated principal every route is authorised against."""

from __future__ import annotations

from dataclasses import dataclass

from auditd.auth.models import PlatformRole


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    display_name: str
    role: PlatformRole
    municipality_code: str
    section_code: str | None = None

    @property
    def is_section_scoped(self) -> bool:
        """Section heads see their own section only."""
        return self.role is PlatformRole.SECTION_HEAD
