"""HTTP routes of the platform's own users: the second-factor step of the login, changing one's
password, and ``GET /api/v1/me`` (who a session or token is).

The password step and logout are in :mod:`auditd.dashboard.router` with the other dashboard pages;
these routes share its templates (``base.html``) and its session.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from auditd import __version__
from auditd.api.deps import (
    BrowserOnly,
    CurrentUser,
    DbSession,
    PendingLogin,
    SecurityDep,
    SettingsDep,
    VaultDep,
    begin_session,
    client_address,
    csrf_token,
    end_session,
    offer_secret,
    pending_login,
    require,
    verify_csrf,
)
from auditd.api.ratelimit import LimitsDep, refusal_message
from auditd.auth import service, totp
from auditd.auth.passwords import MIN_PASSWORD_LENGTH
from auditd.auth.schemas import Principal, WhoAmI
from auditd.auth.settings import SecuritySettings
from auditd.dashboard.i18n import translator
from auditd.errors import ConfigError
from auditd.privacy.vault import Vault
from auditd.settings import Settings

_HERE = Path(__file__).resolve().parent
# This package's pages first, then the dashboard's (``base.html``, ``login.html``, ``totp.html``).
TEMPLATES = Jinja2Templates(directory=[_HERE / "templates", _HERE.parent / "dashboard" / "templates"])

MESSAGES: dict[str, dict[str, str]] = {
    "totp_title": {"ja": "二要素認証", "en": "Two-factor authentication"},
    "totp_prompt": {
        "ja": "認証アプリに表示されている6桁の確認コードを入力してください。",
        "en": "Enter the 6-digit code shown by your authenticator app.",
    },
    "totp_code": {"ja": "確認コード", "en": "Code"},
    "totp_verify": {"ja": "確認", "en": "Verify"},
    "totp_enrol_title": {"ja": "二要素認証の設定", "en": "Set up two-factor authentication"},
    "totp_enrol_intro": {
        "ja": "このアカウントには二要素認証（TOTP）が必要です。認証アプリ（Google Authenticator、"
        "Microsoft Authenticator など）に次の秘密鍵を手入力で登録し、表示された6桁のコードを入力してください。"
        "秘密鍵はこの画面でのみ表示されます。",
        "en": "This account needs a second factor (TOTP). Add the secret below to your authenticator app by "
        "typing it in, then enter the 6-digit code it shows. The secret is shown on this page only.",
    },
    "totp_secret": {"ja": "秘密鍵", "en": "Secret"},
    "totp_uri": {
        "ja": "otpauth URI（貼り付けできるアプリ向け）",
        "en": "otpauth URI (for apps that accept a pasted link)",
    },
    "totp_settings": {
        "ja": "種類: 時間ベース（TOTP）、30秒、6桁、SHA-1",
        "en": "Type: time-based (TOTP), 30 seconds, 6 digits, SHA-1",
    },
    "cancel": {"ja": "やり直す", "en": "Start again"},
    "password_title": {"ja": "パスワードの変更", "en": "Change password"},
    "password_current": {"ja": "現在のパスワード", "en": "Current password"},
    "password_new": {"ja": "新しいパスワード", "en": "New password"},
    "password_confirm": {"ja": "新しいパスワード（確認）", "en": "New password (again)"},
    "password_rule": {
        "ja": f"{MIN_PASSWORD_LENGTH}文字以上。変更すると、ほかの端末のセッションは終了します。",
        "en": f"At least {MIN_PASSWORD_LENGTH} characters. Changing it ends your sessions elsewhere.",
    },
    "password_change": {"ja": "変更する", "en": "Change"},
    "password_changed": {"ja": "パスワードを変更しました。", "en": "Your password has been changed."},
    "password_mismatch": {
        "ja": "確認用のパスワードが一致しません / the two new passwords differ",
        "en": "The two new passwords differ.",
    },
}

router = APIRouter()
pages = APIRouter(include_in_schema=False, dependencies=[BrowserOnly])
api = APIRouter(prefix="/api/v1", tags=["auth"])


def _translator(language: str) -> Any:
    fallback = translator(language)

    def t(key: str) -> str:
        entry = MESSAGES.get(key)
        if entry is None:
            return fallback(key)
        return entry.get(language) or entry["ja"]

    return t


def _render(request: Request, template: str, settings: Settings, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("principal", None)
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "t": _translator(settings.language),
            "lang": settings.language,
            "csrf": csrf_token(request),
            "version": __version__,
            "min_length": MIN_PASSWORD_LENGTH,
            **context,
        },
        status_code=status,
    )


# -- the second factor -------------------------------------------------------------------------------


def _offered_secret(request: Request, vault: Vault, settings: Settings, pending: PendingLogin) -> str:
    """The secret offered to a person enrolling: the one already shown in this login, or a new one."""
    if pending.offered_secret:
        try:
            sealed = base64.b64decode(pending.offered_secret, validate=True)
            return vault.open(settings.municipality_code, totp.pending_binding(pending.user_id), sealed)
        except (binascii.Error, ValueError, ConfigError):
            pass  # a different key since, or a damaged cookie: offer a new secret
    secret = totp.new_secret()
    offer_secret(request, vault.seal(settings.municipality_code, totp.pending_binding(pending.user_id), secret))
    return secret


def _totp_page(
    request: Request,
    settings: Settings,
    security: SecuritySettings,
    vault: Vault,
    pending: PendingLogin,
    *,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    context: dict[str, Any] = {"enrol": pending.enrol, "error": error}
    if pending.enrol:
        secret = _offered_secret(request, vault, settings, pending)
        context.update(
            secret=totp.grouped(secret),
            uri=totp.provisioning_uri(secret, f"{pending.username}@{settings.municipality_code}", security.totp_issuer),
        )
    return _render(request, "totp.html", settings, status, **context)


@pages.get("/login/totp", response_class=HTMLResponse)
def totp_form(request: Request, settings: SettingsDep, security: SecurityDep, vault: VaultDep) -> Response:
    """The second step of a login: a code, or first the enrolment of a second factor."""
    pending = pending_login(request, security)
    if pending is None:
        return RedirectResponse("/login", status_code=303)
    return _totp_page(request, settings, security, vault, pending)


@pages.post("/login/totp", response_class=HTMLResponse, dependencies=[Depends(verify_csrf)])
def totp_submit(
    request: Request,
    settings: SettingsDep,
    security: SecurityDep,
    limits: LimitsDep,
    vault: VaultDep,
    db: DbSession,
    code: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Check the code. Wrong codes count towards the lockout and the same rate limits as passwords."""
    pending = pending_login(request, security)
    if pending is None:
        return RedirectResponse("/login", status_code=303)
    client = client_address(request)
    verdict = limits.login_attempt(client, pending.username)
    if not verdict.allowed:
        if verdict.first_refusal:
            service.record_rate_limited(
                db,
                settings.municipality_code,
                pending.username,
                limited_by=(verdict.key or "?").partition(":")[0],
                retry_after=verdict.retry_after,
                step="totp",
                client=client,
            )
        response = _totp_page(
            request, settings, security, vault, pending, error=refusal_message(verdict, settings.language), status=429
        )
        response.headers["Retry-After"] = str(verdict.retry_after)
        return response
    offered = _offered_secret(request, vault, settings, pending) if pending.enrol else None
    outcome = service.verify_second_factor(db, vault, pending.user_id, code, enrol_secret=offered, client=client)
    if outcome.principal is not None:
        begin_session(request, outcome.principal, outcome.session_epoch)
        return RedirectResponse(pending.next, status_code=303)
    if outcome.reason in ("totp", "totp_replayed"):
        return _totp_page(request, settings, security, vault, pending, error=outcome.message, status=401)
    end_session(request)  # locked, disabled or no factor: this login is over
    return _render(request, "login.html", settings, 401, next=pending.next, error=outcome.message)


# -- one's own password -------------------------------------------------------------------------------


@pages.get("/account/password", response_class=HTMLResponse)
def password_form(request: Request, settings: SettingsDep, principal: CurrentUser, changed: bool = False) -> Response:
    return _render(request, "password.html", settings, principal=principal, changed=changed, error=None)


@pages.post("/account/password", response_class=HTMLResponse, dependencies=[Depends(verify_csrf)])
def password_submit(
    request: Request,
    settings: SettingsDep,
    db: DbSession,
    principal: CurrentUser,
    current: Annotated[str, Form(max_length=256)] = "",
    new: Annotated[str, Form(max_length=256)] = "",
    confirm: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    """Change one's own password (the current one is asked again). Other sessions end; this one goes on."""
    assert principal.user_id is not None  # a session is always a person's
    if new != confirm:
        t = _translator(settings.language)
        return _render(request, "password.html", settings, 422, principal=principal, error=t("password_mismatch"))
    result = service.change_password(db, principal.user_id, current, new, client=client_address(request))
    if not result.ok:
        return _render(request, "password.html", settings, 422, principal=principal, error=result.problem)
    begin_session(request, principal, result.session_epoch)
    return RedirectResponse("/account/password?changed=true", status_code=303)


# -- who am I (API) ------------------------------------------------------------------------------------

AnyPrincipal = Annotated[Principal, Depends(require(scopes=()))]


@api.get("/me", summary="The caller: a session's user or an API token, with its role and scopes", response_model=WhoAmI)
def who_am_i(request: Request, principal: AnyPrincipal) -> WhoAmI:
    """Lets a script check the token it was given (role, scopes, expiry) before it does anything."""
    return WhoAmI(
        username=principal.username,
        display_name=principal.display_name,
        role=principal.role,
        municipality_code=principal.municipality_code,
        section_code=principal.section_code,
        authenticated_by="token" if principal.via_token else "session",
        token_name=principal.token_name,
        scopes=sorted(principal.scopes) if principal.scopes is not None else None,
        token_expires_at=getattr(request.state, "token_expires_at", None) if principal.via_token else None,
    )


router.include_router(pages)
router.include_router(api)
