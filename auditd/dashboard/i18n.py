"""Dashboard texts: Japanese first, English as a setting (``AUDITD_LANGUAGE=en``)."""

from __future__ import annotations

from collections.abc import Callable

MESSAGES: dict[str, dict[str, str]] = {
    "app_title": {"ja": "個人番号アクセス監査", "en": "My Number access audit"},
    "overview": {"ja": "概要", "en": "Overview"},
    "login": {"ja": "ログイン", "en": "Log in"},
    "logout": {"ja": "ログアウト", "en": "Log out"},
    "username": {"ja": "ユーザー名", "en": "Username"},
    "password": {"ja": "パスワード", "en": "Password"},
    "events_total": {"ja": "保存済み操作ログ", "en": "Stored operation events"},
    "events_7d": {"ja": "直近7日間", "en": "Last 7 days"},
    "users_active": {"ja": "操作した職員ID", "en": "Active operator IDs"},
    "subjects_touched": {"ja": "参照された住民", "en": "Residents touched"},
    "quarantined": {"ja": "隔離された記録", "en": "Quarantined records"},
    "masked": {"ja": "個人番号をマスクした記録", "en": "Records with a masked My Number"},
    "events_per_day": {"ja": "日別の操作件数", "en": "Events per day"},
    "by_system": {"ja": "システム別", "en": "By system"},
    "by_hour": {"ja": "時間帯別", "en": "By hour of day"},
    "sources": {"ja": "ログの取込元", "en": "Log sources"},
    "source": {"ja": "取込元", "en": "Source"},
    "system": {"ja": "システム", "en": "System"},
    "last_event": {"ja": "最終イベント", "en": "Last event"},
    "status": {"ja": "状態", "en": "Status"},
    "healthy": {"ja": "正常", "en": "OK"},
    "silent": {"ja": "途絶", "en": "Silent"},
    "recent_runs": {"ja": "最近の取込", "en": "Recent ingest runs"},
    "read": {"ja": "読込", "en": "Read"},
    "accepted": {"ja": "登録", "en": "Accepted"},
    "duplicates": {"ja": "重複", "en": "Duplicate"},
    "started": {"ja": "開始", "en": "Started"},
    "quarantine_reasons": {"ja": "隔離理由", "en": "Quarantine reasons"},
    "reason": {"ja": "理由", "en": "Reason"},
    "count": {"ja": "件数", "en": "Count"},
    "no_data": {"ja": "まだデータがありません。`auditd demo` または `auditd ingest` で取り込んでください。",
                "en": "No data yet. Run `auditd demo` or `auditd ingest`."},
    "login_failed": {"ja": "ログインできませんでした", "en": "Login failed"},
    "signed_in_as": {"ja": "ログイン中", "en": "Signed in as"},
    "offline_note": {"ja": "この画面は外部のサーバーに接続しません。", "en": "This page contacts no outside server."},
}  # fmt: skip


def translator(language: str) -> Callable[[str], str]:
    def t(key: str) -> str:
        entry = MESSAGES.get(key)
        if entry is None:
            return key
        return entry.get(language) or entry["ja"]

    return t
