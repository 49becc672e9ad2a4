"""The rule catalogue: every kind of violation the engine can find, with a fixed code, titles and a
sentence a person can read in Japanese and English, and the control it enforces (for reports).

Reasons are templates filled from the violation's evidence (``{role}``, ``{hours}`` …): stored
evidence stays small and the wording can improve without rewriting history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Rule:
    code: str
    key: str
    title_ja: str
    title_en: str
    reason_ja: str
    reason_en: str
    control: str  # the PIA control / national rule it enforces (DOMAIN.md)

    def reason(self, evidence: dict[str, Any], language: str = "ja") -> str:
        template = self.reason_ja if language == "ja" else self.reason_en
        try:
            return template.format_map(_Missing(evidence))
        except (ValueError, IndexError):
            return template


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


RULES: tuple[Rule, ...] = (
    Rule(
        "P01",
        "no_grant",
        "有効な権限なし",
        "No valid grant",
        "この日（{day}）に有効な権限付与がアカウント {user_id} にありません。",
        "Account {user_id} holds no valid grant on {day}.",
        "アクセス権限の付与・管理（R4, R6）",
    ),
    Rule(
        "P02",
        "out_of_scope",
        "権限の範囲外",
        "Outside the granted role",
        "{system} の「{jimu}」で {action} を行う権限が、保有する役割（{roles}）にありません。",
        "None of the roles held ({roles}) permits {action} on {jimu} in {system}.",
        "事務ごとのアクセス制御（R4）",
    ),
    Rule(
        "P03",
        "mynumber_display",
        "役割にない個人番号の表示",
        "My Number shown outside the role",
        "個人番号を表示できる役割を持たないまま、個人番号を表示しました（役割: {roles}）。",
        "The My Number was displayed without a role that may display it (roles: {roles}).",
        "個人番号の表示は個人番号利用事務実施者のみ",
    ),
    Rule(
        "P04",
        "off_hours",
        "業務時間外・閉庁日",
        "Outside business hours",
        "{day_kind}の {time} の操作で、業務時間（{hours}）外、時間外勤務命令もありません。",
        "Operation at {time} on a {day_kind_en}, outside business hours ({hours}) and without approved overtime.",
        "業務時間外・休業日のアクセス点検（R3）",
    ),
    Rule(
        "P05",
        "unregistered_terminal",
        "未登録端末",
        "Unregistered terminal",
        "端末 {terminal_id} は端末台帳に登録されていません。",
        "Terminal {terminal_id} is not in the terminal registry.",
        "登録された端末のみ使用",
    ),
    Rule(
        "P06",
        "retired_terminal",
        "廃止済み端末",
        "Retired terminal",
        "端末 {terminal_id} は {retired_on} に廃止されています。",
        "Terminal {terminal_id} was retired on {retired_on}.",
        "登録された端末のみ使用",
    ),
    Rule(
        "P07",
        "wrong_segment",
        "区分外の端末",
        "Terminal in the wrong segment",
        "{system} はマイナンバー利用事務系のシステムですが、端末 {terminal_id} は {segment} 区分です。",
        "{system} is in the My Number segment but terminal {terminal_id} is in the {segment} segment.",
        "三層の対策（ネットワーク分離）",
    ),
    Rule(
        "P08",
        "foreign_terminal",
        "他所属の端末",
        "Another section's terminal",
        "{section} 所属の職員が、{terminal_section} の端末 {terminal_id} を使いました。",
        "A member of section {section} used terminal {terminal_id} of section {terminal_section}.",
        "個人ごとのID・端末の管理（共用禁止）",
    ),
    Rule(
        "P09",
        "no_session",
        "ログイン記録なし",
        "No login session",
        "この操作に対応するログイン記録が、端末 {terminal_id} にありません。",
        "No login of this account on terminal {terminal_id} covers this operation.",
        "識別・認証の記録（R5）",
    ),
    Rule(
        "P10",
        "missing_factors",
        "認証要素の不足",
        "Missing authentication factors",
        "ログイン（{factors}）が {segment} 区分の要件（{required}）を満たしません。",
        "The login ({factors}) does not meet the {segment} requirement ({required}).",
        "二要素認証（R5）",
    ),
    Rule(
        "P11",
        "bulk_without_approval",
        "出力承認のない一括出力",
        "Bulk output without approval",
        "{count} 人分の {action} に、有効な出力承認がありません（基準 {threshold} 人以上）。",
        "{action} of {count} residents without a valid output approval (needed from {threshold}).",
        "データ出力は事前に管理責任者の承認",
    ),
    Rule(
        "P12",
        "after_transfer",
        "異動後の旧権限",
        "Role kept after a transfer",
        "役割 {role} は所属 {role_sections} の役割ですが、この日の所属は {section} です（異動後に失効していない）。",
        "Role {role} belongs to section(s) {role_sections}, but on this day the holder is in {section}.",
        "異動・退職時のID失効（R6）",
    ),
    Rule(
        "P13",
        "after_retirement",
        "退職後の操作",
        "Activity after retirement",
        "職員は {retired_on} に退職しています。",
        "The staff member retired on {retired_on}.",
        "異動・退職時のID失効（R6）",
    ),
    Rule(
        "P14",
        "account_disabled",
        "無効化されたアカウント",
        "Disabled account",
        "アカウント {user_id} は {disabled_on} に無効化されています。",
        "Account {user_id} was disabled on {disabled_on}.",
        "IDの失効・休眠IDの管理（R6）",
    ),
    Rule(
        "P15",
        "unknown_account",
        "台帳にないアカウント",
        "Account not in the ledger",
        "アカウント {user_id} は操作者ID台帳にありません。",
        "Account {user_id} is not in the account ledger.",
        "個人ごとのID発行・共用IDの禁止",
    ),
    Rule(
        "P16",
        "contractor_without_pledge",
        "誓約書のない委託先作業者",
        "Contractor without a pledge",
        "委託先作業者に、この日までの誓約書の提出がありません。",
        "The contractor's operator had not signed a confidentiality pledge by this day.",
        "委託先の名簿・誓約書（R13）",
    ),
    Rule(
        "P17",
        "terminal_not_allowed",
        "役割で許されない端末",
        "Terminal not allowed for the role",
        "役割 {role} は端末 {allowed} からのみ使えます（使用: {terminal_id}）。",
        "Role {role} may only be used from {allowed} (used: {terminal_id}).",
        "特権ID・バッチIDの管理（R7）",
    ),
)

BY_KEY = {rule.key: rule for rule in RULES}
BY_CODE = {rule.code: rule for rule in RULES}
