"""Every violation kind through the command line, on a hand-made town.

Reference feeds in the standard CSV layouts, a login log and a tax-system log in their own formats go
in through ``auditd import`` / ``auditd ingest``; ``auditd decide`` judges them under the built-in
policy; ``auditd policy explain`` must name, for each hand-made event, exactly the rule it was made to
break (and nothing for the ordinary lookup). One event per rule, so a rule that stops firing, or
starts firing where it should not, fails here with its name.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine, select

from auditd.events.models import Event
from policies.rules import BY_KEY, RULES

DAY = "2026/02/03"  # a Tuesday; the built-in calendar has no holiday that week

FEEDS = {
    "sections": [
        "section_code,name,parent_code,hours_start,hours_end,weekend_counter",
        "1101,市民税課,,,,",
        "1102,資産税課,,,,",
        "9101,情報政策課,,,,",
    ],
    "staff": [
        "staff_id,name,name_kana,employment,contractor,pledge_date,hired_on,retired_on,resident,household,home_area",
        "E1,課税 一郎,カゼイ イチロウ,regular,,,2015-04-01,,,,",
        "E2,委託 二郎,イタク ジロウ,contractor,株式会社データ入力,,2025-04-01,,,,",
        "E3,異動 三郎,イドウ サブロウ,regular,,,2015-04-01,,,,",
        "E4,退職 四郎,タイショク シロウ,regular,,,1990-04-01,2026-01-31,,,",
        "E5,停止 五郎,テイシ ゴロウ,regular,,,2015-04-01,,,,",
        "E6,期限 六郎,キゲン ロクロウ,regular,,,2015-04-01,,,,",
        "E7,資産 七子,シサン ナナコ,regular,,,2015-04-01,,,,",
        "E8,単要 八子,タンヨウ ハチコ,regular,,,2015-04-01,,,,",
    ],
    "assignments": [
        "staff_id,section_code,valid_from,valid_to,position",
        "E1,1101,2025-04-01,,",
        "E2,1101,2025-04-01,,",
        "E3,1101,2025-04-01,2026-02-01,",
        "E3,1102,2026-02-01,,",
        "E4,1101,2025-04-01,,",
        "E5,1101,2025-04-01,,",
        "E6,1101,2025-04-01,,",
        "E7,1102,2025-04-01,,",
        "E8,1101,2025-04-01,,",
    ],
    "accounts": [
        "user_id,staff_id,kind,created_on,disabled_on,note",
        *(f"u{n},E{n},personal,2025-04-01,{'2026-02-01' if n == 5 else ''}," for n in range(1, 9)),
        "job,,batch,2025-04-01,,夜間バッチ",
    ],
    "grants": [
        "user_id,role,valid_from,valid_to,approver,status",
        *(f"u{n},tax_resident,2025-04-01,{'2026-02-01' if n == 6 else ''},E0,active" for n in (1, 2, 3, 4, 5, 6, 8)),
        "u7,tax_property,2025-04-01,,E0,active",
        "ghost,tax_resident,2025-04-01,,E0,active",
        "job,batch,2025-04-01,,E0,active",
    ],
    "terminals": [
        "terminal_id,section_code,segment,kind,registered_on,retired_on",
        "T1101-01,1101,mynumber,desktop,2024-04-01,",
        "T1101-02,1101,mynumber,desktop,2024-04-01,",
        "T1101-03,1101,mynumber,desktop,2024-04-01,",
        "T1102-01,1102,mynumber,desktop,2024-04-01,",
        "T1101-OLD,1101,mynumber,desktop,2020-04-01,2026-01-31",
        "LG1101-01,1101,lgwan,desktop,2024-04-01,",
        "SV-BATCH-01,9101,mynumber,server,2024-04-01,",
    ],
}

LOGINS = [  # (user, terminal, time, factors)
    ("u1", "T1101-01", "08:00:00", "PW+VEIN"),
    ("u1", "T1101-NEW", "08:00:00", "PW+VEIN"),
    ("u1", "T1101-OLD", "08:00:00", "PW+VEIN"),
    ("u1", "LG1101-01", "08:00:00", "PW+VEIN"),
    ("u1", "T1102-01", "08:00:00", "PW+VEIN"),
    ("u2", "T1101-01", "08:00:00", "PW+VEIN"),
    ("u3", "T1102-01", "08:00:00", "PW+VEIN"),
    ("u4", "T1101-01", "08:00:00", "PW+VEIN"),
    ("u5", "T1101-01", "08:00:00", "PW+VEIN"),
    ("u6", "T1101-01", "08:00:00", "PW+VEIN"),
    ("u7", "T1102-01", "08:00:00", "PW+VEIN"),
    ("u8", "T1101-03", "08:00:00", "PW"),
    ("ghost", "T1101-01", "08:00:00", "PW+VEIN"),
    ("job", "T1101-01", "00:30:00", "CERT"),
]

#: rule -> (user, terminal, time, 業務コード, 操作区分, 対象件数): the event made to break just that rule.
CASES = {
    None: ("u1", "T1101-01", "10:00:00", "11", "01", "1"),  # an ordinary lookup: allowed
    "no_grant": ("u6", "T1101-01", "10:00:00", "11", "01", "1"),  # the grant ended on 2026-02-01
    "out_of_scope": ("u1", "T1101-01", "10:05:00", "12", "02", "1"),  # 固定資産税 is not the role's
    "mynumber_display": ("u7", "T1102-01", "10:00:00", "12", "05", "1"),  # tax_property may not show it
    "off_hours": ("u1", "T1101-01", "19:30:00", "11", "01", "1"),
    "unregistered_terminal": ("u1", "T1101-NEW", "10:00:00", "11", "01", "1"),
    "retired_terminal": ("u1", "T1101-OLD", "10:00:00", "11", "01", "1"),
    "wrong_segment": ("u1", "LG1101-01", "10:00:00", "11", "01", "1"),
    "foreign_terminal": ("u1", "T1102-01", "10:00:00", "11", "01", "1"),
    "no_session": ("u1", "T1101-02", "10:00:00", "11", "01", "1"),
    "missing_factors": ("u8", "T1101-03", "10:00:00", "11", "01", "1"),
    "bulk_without_approval": ("u1", "T1101-01", "11:00:00", "11", "03", "300"),
    "after_transfer": ("u3", "T1102-01", "10:00:00", "11", "01", "1"),
    "after_retirement": ("u4", "T1101-01", "10:00:00", "11", "01", "1"),
    "account_disabled": ("u5", "T1101-01", "10:00:00", "11", "01", "1"),
    "unknown_account": ("ghost", "T1101-01", "10:00:00", "11", "01", "1"),
    "contractor_without_pledge": ("u2", "T1101-01", "10:00:00", "11", "01", "1"),
    "terminal_not_allowed": ("job", "T1101-01", "01:00:00", "11", "03", "50"),
}


def _write_town(folder: Path) -> tuple[dict[str, Path], Path, Path]:
    feeds = {}
    for kind, lines in FEEDS.items():
        feeds[kind] = folder / f"{kind}.csv"
        feeds[kind].write_text("\n".join(lines) + "\n", encoding="utf-8")
    logins = folder / "auth.csv"
    rows = [f"{DAY} {t},{u},{term},LOGON,{f},,OK" for u, term, t, f in LOGINS]
    logins.write_text("\ufefftimestamp,user,terminal,event,method,session,result\r\n" + "\r\n".join(rows) + "\r\n")
    tax = folder / "tax.csv"
    header = "操作日時,職員ID,端末ID,セッションID,業務コード,画面ID,操作区分,宛名番号,対象件数,処理結果,検索条件"
    lines = [
        f"R08.02.03 {t},{user},{terminal},,{jimu},C{n:02d},{action},{100 + n},{count},0,"
        for n, (user, terminal, t, jimu, action, count) in enumerate(CASES.values())
    ]
    tax.write_bytes(("\r\n".join([header, *lines]) + "\r\n").encode("cp932"))
    return feeds, logins, tax


def _auditd(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "auditd", *args], env=env, capture_output=True, text=True, check=False, timeout=300
    )
    assert done.returncode == 0, f"auditd {' '.join(args)} failed:\n{done.stderr[-3000:]}"
    return done.stdout


def test_each_rule_kind_is_found_and_explained_through_the_cli(
    engine: Engine, env_for_cli: dict[str, str], tmp_path: Path
):  # type: ignore[no-untyped-def]
    feeds, logins, tax = _write_town(tmp_path)
    for kind, path in feeds.items():
        _auditd(env_for_cli, "import", kind, str(path))
    _auditd(env_for_cli, "ingest", str(logins), "--profile", "demo-auth")
    _auditd(env_for_cli, "ingest", str(tax), "--profile", "demo-tax")
    decided = _auditd(env_for_cli, "decide")
    with engine.connect() as conn:
        ids = dict(conn.execute(select(Event.screen, Event.event_id).where(Event.system == "税務")).all())
    cases = list(CASES)
    event_ids = [str(ids[f"C{n:02d}"]) for n in range(len(cases))]

    explained = json.loads(_auditd(env_for_cli, "policy", "explain", "--json", *event_ids))
    found = {case: {v["rule"] for v in e["violations"]} for case, e in zip(cases, explained, strict=True)}
    assert found == {case: set() if case is None else {case} for case in cases}
    assert [e["allowed"] for e in explained] == [case is None for case in cases]
    assert all(e["decided"] and e["stored_rules"] == sorted(found[c]) for c, e in zip(cases, explained, strict=True))

    for rule in RULES:
        assert f"{rule.code} {rule.title_ja}" in decided, f"the decide summary counts {rule.code}"
    text = _auditd(env_for_cli, "policy", "explain", *event_ids)
    blocks = text.split("event ")[1:]
    assert len(blocks) == len(cases)
    for case, block in zip(cases, blocks, strict=True):
        if case is None:
            assert "許可 allowed" in block and "✗" not in block
        else:
            assert "違反 not allowed" in block and BY_KEY[case].code in block and "✗" in block, (case, block)
