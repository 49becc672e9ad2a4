"""Who is asking: the authenticated principal every route is authorised against."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, Field

from auditd.auth.models import PlatformRole


@dataclass(frozen=True)
class Principal:
    """A person logged in (a session) or a caller holding an API token.

    ``scopes`` is None for a person's session: their role decides alone. For a token it is the set
    of scopes the token was issued with, and a route admits the token only if it names scopes and
    the token holds them all (:func:`auditd.api.deps.require`).
    """

    user_id: int | None  # None for a system's token (role api), which has no platform user
    username: str
    display_name: str
    role: PlatformRole
    municipality_code: str
    section_code: str | None = None
    scopes: frozenset[str] | None = None
    token_name: str | None = None

    @property
    def is_section_scoped(self) -> bool:
        """Section heads see their own section only."""
        return self.role is PlatformRole.SECTION_HEAD

    @property
    def via_token(self) -> bool:
        return self.scopes is not None


class WhoAmI(BaseModel):
    """What ``GET /api/v1/me`` tells a caller about itself: enough for a script to check its token."""

    username: str = Field(description="the platform user, or api:<token name> for a system's token")
    display_name: str
    role: PlatformRole
    municipality_code: str
    section_code: str | None = None
    authenticated_by: str = Field(description="session or token")
    token_name: str | None = None
    scopes: list[str] | None = Field(None, description="the token's scopes; absent for a session")
    token_expires_at: datetime | None = None
