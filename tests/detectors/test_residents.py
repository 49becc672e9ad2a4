"""The resident-centred detectors (D03–D09, D17) on hand-made windows of the test town.

Reminders about the town (detectors/testing.py): ``u1``–``u4`` are 市民税課 (1101) clerks ``E1``–``E4``,
``u5``–``u8`` are 国保年金課 (2101, a counter) ``E5``–``E8``; ``E1`` lives at ``R01`` (household
``H01`` = R01–R03, area ``A1``, surname カナ1); resident ``Rnn`` lives in area ``A((n-1) % 4 + 1)``.
"""

from __future__ import annotations

import pandas as pd
import pytest

from detectors.base import Finding
from detectors.residents import (
    AfterCase,
    CuriosityCluster,
    LinkageWithoutCase,
    Neighbourhood,
    NoCase,
    Repetition,
    SelfOrRelative,
    Watchlist,
)
from detectors.testing import at, case, event, town, window


def ids(*events: dict[str, object]) -> tuple[str, ...]:
    return tuple(sorted(str(e["event_id"]) for e in events))


def only(found: list[Finding]) -> Finding:
    assert len(found) == 1, found
    return found[0]


def approvals(*rows: dict[str, object]) -> pd.DataFrame:
    columns = ["approval_id", "staff_id", "user_id", "jimu", "action", "max_count", "valid_from", "valid_to"]
    return pd.DataFrame([{c: row.get(c) for c in columns} for row in rows], columns=columns)


def watch(subject: str, category: str, valid_from: str = "2026-01-01", valid_to: str | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "subject_hash": subject,
                "category": category,
                "valid_from": pd.Timestamp(valid_from),
                "valid_to": pd.Timestamp(valid_to) if valid_to else pd.NaT,
                "note": None,
            }
        ]
    )


# -- D03 ----------------------------------------------------------------------------------------------------


def test_no_case_names_the_user_day_and_only_the_unexplained_residents() -> None:
    alone = [
        event("2026-02-03 10:00", user_id="u2", terminal_id="T2", subject_hash="R10", action="search"),
        event("2026-02-03 10:01", user_id="u2", terminal_id="T2", subject_hash="R10"),
        event("2026-02-03 11:00", user_id="u2", terminal_id="T2", subject_hash="R11"),
        event("2026-02-03 15:30", user_id="u2", terminal_id="T2", subject_hash="R12"),
    ]
    with_case = event("2026-02-03 11:30", user_id="u2", terminal_id="T2", subject_hash="R13")
    f = only(NoCase().detect(window([*alone, with_case], cases=[case("R13", "2026-01-10 09:00")])))
    assert f.user_id == "u2" and f.rule == "D03"
    assert f.subjects == ("R10", "R11", "R12")
    assert f.event_ids == ids(*alone)
    assert "u2" in f.explanation_ja and "住民3人" in f.explanation_ja and "4件" in f.explanation_ja
    assert "02/03 10:00–15:30" in f.explanation_ja and "R10" not in f.explanation_ja + f.explanation_en
    assert f.evidence == {"residents": 3, "threshold": 3}
    assert f.key == "u2|2026-02-03"


def test_no_case_threshold_counts_distinct_residents_per_day() -> None:
    two = [event(f"2026-02-03 1{i}:00", user_id="u2", subject_hash=s) for i, s in enumerate(["R10", "R11", "R10"])]
    assert NoCase().detect(window(two)) == []
    next_day = event("2026-02-04 10:00", user_id="u2", subject_hash="R12")
    assert NoCase().detect(window([*two, next_day])) == []  # three residents, but over two days
    third = event("2026-02-03 16:00", user_id="u2", subject_hash="R12")
    assert len(NoCase().detect(window([*two, third]))) == 1
    assert NoCase({"min_residents": 4}).detect(window([*two, third])) == []


def test_no_case_leaves_the_legitimate_look_alikes_alone() -> None:
    counter = [  # counter lookups explained by reception cases, one searched just before it was registered
        event("2026-02-03 10:00", user_id="u5", terminal_id="T5", jimu="国民健康保険", subject_hash="R21"),
        event("2026-02-03 10:20", user_id="u5", terminal_id="T5", jimu="国民健康保険", subject_hash="R22"),
        event("2026-02-03 10:40", user_id="u5", terminal_id="T5", jimu="国民健康保険", subject_hash="R23"),
    ]
    receptions = [
        case("R21", "2026-02-03 09:58", "2026-02-03 10:10", section="2101", kind="reception", assignee="E5"),
        case("R22", "2026-02-03 10:25", "2026-02-03 10:35", section="2101", kind="reception", assignee="E5"),
        case("R23", "2026-02-03 10:38", "2026-02-03 10:50", section="2101", kind="reception", assignee="E5"),
    ]
    # a delinquency case of another section, assigned to u3's person
    delinquency = [event(f"2026-02-03 1{i}:00", user_id="u3", subject_hash="R30") for i in range(5)]
    assigned = case("R30", "2025-12-01 09:00", section="1103", kind="delinquency", assignee="E3")
    batch = [
        event("2026-02-03 02:00", user_id="batch_tax", terminal_id="SV1", subject_hash=f"R{i}") for i in (41, 42, 43)
    ]
    admin = [event(f"2026-02-03 1{i}:00", user_id="adm9", terminal_id="T9", subject_hash=f"R4{i}") for i in (4, 5, 6)]
    linkage = [
        event(f"2026-02-03 1{i}:00", user_id="u4", action="link_inquiry", subject_hash=f"R4{i}") for i in (7, 8, 9)
    ]
    w = window([*counter, *delinquency, *batch, *admin, *linkage], cases=[*receptions, assigned])
    assert NoCase().detect(w) == []


def test_a_case_registered_long_after_the_lookup_does_not_explain_it() -> None:
    looks = [event(f"2026-02-03 1{i}:00", user_id="u2", subject_hash=f"R1{i}") for i in range(3)]
    late = case("R10", "2026-02-03 14:00", section="1101")
    assert len(NoCase().detect(window(looks, cases=[late]))) == 1
    soon = case("R10", "2026-02-03 10:30", section="1101")
    assert NoCase().detect(window(looks, cases=[soon])) == []
    assert len(NoCase({"case_grace_minutes": 10}).detect(window(looks, cases=[soon]))) == 1


# -- D04 ----------------------------------------------------------------------------------------------------


def test_self_and_household_lookups_are_one_critical_finding() -> None:
    family = [
        event("2026-02-03 12:24", subject_hash="R01", action="search"),
        event("2026-02-03 12:25", subject_hash="R02", action="show_mynumber"),
        event("2026-02-03 12:27", subject_hash="R03"),
        event("2026-02-03 12:30", subject_hash="R03", action="print"),
    ]
    stranger = event("2026-02-03 13:00", subject_hash="R40")
    f = only(SelfOrRelative().detect(window([*family, stranger])))
    assert f.user_id == "u1" and f.rule == "D04" and f.severity == "critical"
    assert f.subjects == ("R01", "R02", "R03")
    assert f.event_ids == ids(*family)
    assert "職員本人の記録" in f.explanation_ja and "同一世帯の住民2人" in f.explanation_ja
    assert "案件なし4件" in f.explanation_ja and "R02" not in f.explanation_ja
    assert f.evidence["self"] == 1 and f.evidence["household"] == 2 and f.evidence["actions"]["print"] == 1


def test_a_relative_inside_an_assigned_case_is_flagged_as_medium_but_the_sections_queue_explains_it() -> None:
    look = event("2026-02-03 10:00", subject_hash="R02")
    own = case("R02", "2026-01-05 09:00", section="1103", kind="delinquency", assignee="E1")
    f = only(SelfOrRelative().detect(window([look], cases=[own])))
    assert f.severity == "medium" and "案件なし0件" in f.explanation_ja and f.event_ids == ids(look)
    colleagues = case("R02", "2026-01-05 09:00", assignee="E2")  # the section's, assigned to E2
    assert only(SelfOrRelative().detect(window([look], cases=[colleagues]))).severity == "medium"
    queue = case("R02", "2026-01-05 09:00")  # 1101's assessment, nobody's in particular
    assert SelfOrRelative().detect(window([look], cases=[queue])) == []
    closed = case("R02", "2026-01-05 09:00", "2026-02-01 17:00")  # the queue item was done before
    assert only(SelfOrRelative().detect(window([look], cases=[closed]))).severity == "critical"


def test_same_surname_and_area_counts_without_a_case_only() -> None:
    residents = town()["residents"]
    residents.loc[residents["subject_hash"] == "R05", "surname_kana"] = "カナ1"  # R05 lives in A1, like E1
    look = event("2026-02-03 10:00", subject_hash="R05")
    f = only(SelfOrRelative().detect(window([look], residents=residents)))
    assert f.severity == "high" and "同姓で同じ地区の住民1人" in f.explanation_ja
    assert f.subjects == ("R05",)
    in_case = window([look], residents=residents, cases=[case("R05", "2026-01-05 09:00")])
    assert SelfOrRelative().detect(in_case) == []
    other_area = town()["residents"]
    other_area.loc[other_area["subject_hash"] == "R06", "surname_kana"] = "カナ1"  # R06 lives in A2
    assert SelfOrRelative().detect(window([event("2026-02-03 10:00", subject_hash="R06")], residents=other_area)) == []


def test_someone_elses_relatives_and_batch_jobs_are_not_d04() -> None:
    colleague = event("2026-02-03 10:00", user_id="u2", terminal_id="T2", subject_hash="R02")
    batch = event("2026-02-03 02:00", user_id="batch_tax", terminal_id="SV1", subject_hash="R01")
    assert SelfOrRelative().detect(window([colleague, batch])) == []


# -- D05 ----------------------------------------------------------------------------------------------------


def test_neighbourhood_joins_history_and_fires_on_the_day_the_count_is_reached() -> None:
    before = [
        event("2026-02-02 11:10", subject_hash="R05"),
        event("2026-02-04 15:05", subject_hash="R09", action="search"),
        event("2026-02-04 15:06", subject_hash="R09"),
    ]
    today = [event("2026-02-06 09:25", subject_hash="R13")]
    other_area = event("2026-02-06 09:40", subject_hash="R14")  # A2: not a neighbour
    f = only(Neighbourhood().detect(window([*today, other_area], history=before)))
    assert f.user_id == "u1" and f.rule == "D05"
    assert f.subjects == ("R05", "R09", "R13")
    assert f.event_ids == ids(*before, *today)
    assert f.start == at("2026-02-02 11:10") and f.end == at("2026-02-06 09:25")
    assert "住民3人" in f.explanation_ja and "自宅と同じ地区" in f.explanation_ja and "14日間" in f.explanation_ja
    assert f.key == "u1|2026-02-06"
    # the next day's window sees the story already past the threshold: no second finding
    later = [event("2026-02-09 10:00", subject_hash="R17")]
    assert Neighbourhood().detect(window(later, history=[*before, *today])) == []


def test_neighbourhood_threshold_and_period() -> None:
    two = [event("2026-02-02 11:10", subject_hash="R05")]
    today = [event("2026-02-06 09:25", subject_hash="R13")]
    assert Neighbourhood().detect(window(today, history=two)) == []
    long_ago = event("2026-01-22 10:00", subject_hash="R09")  # 15 days before: outside the two weeks
    assert Neighbourhood().detect(window(today, history=[*two, long_ago])) == []
    in_time = event("2026-01-24 10:00", subject_hash="R09")
    assert len(Neighbourhood().detect(window(today, history=[*two, in_time]))) == 1
    assert Neighbourhood({"min_residents": 4}).detect(window(today, history=[*two, in_time])) == []


def test_neighbourhood_ignores_cases_self_and_users_without_a_home_area() -> None:
    own = event("2026-02-06 09:00", subject_hash="R01")  # self: D04's
    neighbours = [event("2026-02-06 10:00", subject_hash="R05"), event("2026-02-06 11:00", subject_hash="R09")]
    assert Neighbourhood().detect(window([own, *neighbours])) == []
    third = event("2026-02-06 12:00", subject_hash="R13")
    explained = window([*neighbours, third], cases=[case("R13", "2026-01-05 09:00")])
    assert Neighbourhood().detect(explained) == []
    nobody = [event(f"2026-02-06 1{i}:00", user_id="u2", subject_hash=s) for i, s in enumerate(["R05", "R09", "R13"])]
    assert Neighbourhood().detect(window(nobody)) == []  # E2 has no home area in the ledger


# -- D06 ----------------------------------------------------------------------------------------------------


def test_repetition_counts_looks_over_days_and_fires_once() -> None:
    day1 = [
        event("2026-02-02 10:00", user_id="u6", terminal_id="T6", subject_hash="R33", action="search"),
        event("2026-02-02 10:10", user_id="u6", terminal_id="T6", subject_hash="R33"),
        event("2026-02-02 10:25", user_id="u6", terminal_id="T6", subject_hash="R33"),
    ]
    day2 = [event("2026-02-03 16:00", user_id="u6", terminal_id="T6", subject_hash="R33")]
    day3 = [event("2026-02-05 09:05", user_id="u6", terminal_id="T6", subject_hash="R33")]
    f = only(Repetition().detect(window(day3, history=[*day1, *day2])))
    assert f.user_id == "u6" and f.rule == "D06" and f.subjects == ("R33",)
    assert f.event_ids == ids(*day1, *day2, *day3)
    assert "3回" in f.explanation_ja and "3日" in f.explanation_ja and "住民1人" in f.explanation_ja
    assert f.evidence["looks"] == 3 and f.evidence["days_with_looks"] == 3
    assert f.key == "u6|R33|2026-02-05"
    day4 = [event("2026-02-06 09:05", user_id="u6", terminal_id="T6", subject_hash="R33")]
    assert Repetition().detect(window(day4, history=[*day1, *day2, *day3])) == []


def test_repetition_boundaries() -> None:
    first = event("2026-02-02 10:00", user_id="u6", subject_hash="R33")
    soon = event("2026-02-02 10:20", user_id="u6", subject_hash="R33")  # same look
    second = event("2026-02-03 10:00", user_id="u6", subject_hash="R33")
    assert Repetition().detect(window([second], history=[first, soon])) == []  # two looks
    later = event("2026-02-03 15:00", user_id="u6", subject_hash="R33")
    assert len(Repetition().detect(window([second, later], history=[first, soon]))) == 1  # three, two days
    one_day = [event(f"2026-02-03 {h}:00", user_id="u6", subject_hash="R33") for h in (9, 11, 15)]
    assert Repetition().detect(window(one_day)) == []  # three looks but one day
    assert len(Repetition({"min_days": 1}).detect(window(one_day))) == 1
    old = event("2026-01-19 10:00", user_id="u6", subject_hash="R33")  # 15 days before
    assert Repetition().detect(window([second, later], history=[old])) == []


def test_repetition_inside_the_assignees_open_case_is_not_counted() -> None:
    looks = [event(f"2026-02-0{d} 10:00", user_id="u3", subject_hash="R30") for d in (3, 4, 5)]
    assigned = case("R30", "2025-12-01 09:00", section="1103", kind="delinquency", assignee="E3")
    assert Repetition().detect(window(looks[-1:], history=looks[:-1], cases=[assigned])) == []
    assert len(Repetition().detect(window(looks[-1:], history=looks[:-1]))) == 1


# -- D07 ----------------------------------------------------------------------------------------------------


def test_curiosity_cluster_is_one_finding_per_resident_with_the_users_in_evidence() -> None:
    yesterday = [
        event("2026-02-03 10:00", user_id="u2", terminal_id="T2", subject_hash="R50"),
        event("2026-02-03 11:18", user_id="u6", terminal_id="T6", subject_hash="R50"),
    ]
    today = [
        event("2026-02-04 09:36", user_id="u7", terminal_id="T7", subject_hash="R50", action="search"),
        event("2026-02-04 09:37", user_id="u7", terminal_id="T7", subject_hash="R50"),
    ]
    f = only(CuriosityCluster().detect(window(today, history=yesterday)))
    assert f.user_id is None and f.rule == "D07" and f.subjects == ("R50",)
    assert f.event_ids == ids(*yesterday, *today)
    assert f.evidence["users"] == ["u2", "u6", "u7"] and f.evidence["sections"] == ["1101", "2101"]
    assert "3人の職員" in f.explanation_ja and "u7" in f.explanation_ja and "R50" not in f.explanation_ja
    assert f.key == "R50|2026-02-04"
    more = [event("2026-02-05 09:00", user_id="u8", terminal_id="T8", subject_hash="R50")]
    assert CuriosityCluster().detect(window(more, history=[*yesterday, *today])) == []  # same story


def test_curiosity_cluster_boundaries() -> None:
    two = [
        event("2026-02-03 10:00", user_id="u2", subject_hash="R50"),
        event("2026-02-03 10:05", user_id="u2", subject_hash="R50"),
        event("2026-02-03 11:00", user_id="u6", subject_hash="R50"),
    ]
    assert CuriosityCluster().detect(window(two)) == []
    late = event("2026-02-05 11:30", user_id="u7", subject_hash="R50")  # 49.5 h after the first
    assert CuriosityCluster().detect(window([late], history=two)) == []
    in_time = event("2026-02-05 09:30", user_id="u7", subject_hash="R50")
    assert len(CuriosityCluster().detect(window([in_time], history=two))) == 1
    assert CuriosityCluster({"min_users": 4}).detect(window([in_time], history=two)) == []


def test_curiosity_cluster_ignores_users_with_a_case() -> None:
    looks = [
        event("2026-02-03 10:00", user_id="u2", subject_hash="R50"),
        event("2026-02-03 11:00", user_id="u6", terminal_id="T6", subject_hash="R50"),
        event("2026-02-03 12:00", user_id="u7", terminal_id="T7", subject_hash="R50"),
    ]
    counter = case("R50", "2026-02-03 11:58", "2026-02-03 12:10", section="2101", kind="reception", assignee="E7")
    assert CuriosityCluster().detect(window(looks, cases=[counter])) == []


# -- D08 ----------------------------------------------------------------------------------------------------


def test_a_dv_support_resident_looked_up_without_a_case_is_critical() -> None:
    look = [
        event("2026-02-03 11:00", user_id="u2", subject_hash="R40", action="search"),
        event("2026-02-03 11:01", user_id="u2", subject_hash="R40"),
    ]
    f = only(Watchlist().detect(window(look, watchlist=watch("R40", "dv_support"))))
    assert f.user_id == "u2" and f.rule == "D08" and f.severity == "critical"
    assert f.subjects == ("R40",) and f.event_ids == ids(*look)
    assert "DV等支援措置対象者" in f.explanation_ja and "住民1人" in f.explanation_ja
    assert f.evidence == {"categories": ["dv_support"], "residents": 1}


def test_watchlist_other_categories_validity_and_cases() -> None:
    look = event("2026-02-03 11:00", user_id="u2", subject_hash="R40")
    public = only(Watchlist().detect(window([look], watchlist=watch("R40", "public_figure"))))
    assert public.severity is None and "著名人等" in public.explanation_ja  # the detector's own (high)
    expired = watch("R40", "dv_support", "2025-01-01", "2026-02-02")
    assert Watchlist().detect(window([look], watchlist=expired)) == []
    last_day = watch("R40", "dv_support", "2025-01-01", "2026-02-03")
    assert len(Watchlist().detect(window([look], watchlist=last_day))) == 1
    explained = window([look], watchlist=watch("R40", "dv_support"), cases=[case("R40", "2026-01-05 09:00")])
    assert Watchlist().detect(explained) == []
    batch = event("2026-02-03 02:00", user_id="batch_tax", terminal_id="SV1", subject_hash="R40")
    assert Watchlist().detect(window([batch], watchlist=watch("R40", "dv_support"))) == []


# -- D09 ----------------------------------------------------------------------------------------------------


def counter_case(closed: str = "2026-02-02 10:10") -> dict[str, object]:
    return case(
        "R45", "2026-02-02 10:00", closed, section="2101", kind="reception", jimu="国民健康保険",
        assignee="E5", case_id="2101-REC-1",
    )  # fmt: skip


def test_after_the_counter_case_closed() -> None:
    look = event("2026-02-05 19:40", user_id="u5", terminal_id="T5", jimu="国民健康保険", subject_hash="R45")
    f = only(AfterCase().detect(window([look], cases=[counter_case()])))
    assert f.user_id == "u5" and f.rule == "D09" and f.subjects == ("R45",) and f.event_ids == ids(look)
    assert "窓口受付" in f.explanation_ja and "3日以上" in f.explanation_ja and "住民1人" in f.explanation_ja
    assert f.evidence["case_ids"] == ["2101-REC-1"] and f.evidence["case_kinds"] == ["reception"]
    # a colleague of the same section: the section's case
    colleague = event("2026-02-05 10:00", user_id="u6", terminal_id="T6", subject_hash="R45")
    assert only(AfterCase().detect(window([colleague], cases=[counter_case()]))).user_id == "u6"


def test_after_case_boundaries_and_look_alikes() -> None:
    def run(when: str, user: str = "u5", **kw: object) -> list[Finding]:
        look = event(when, user_id=user, terminal_id="T5", subject_hash="R45")
        return AfterCase(kw or None).detect(window([look], cases=[counter_case()]))

    assert run("2026-02-02 11:05") == []  # paperwork within the hour
    assert len(run("2026-02-02 11:15")) == 1
    assert run("2026-05-04 10:00") == []  # 91 days later: D03's
    assert len(run("2026-05-02 10:00")) == 1
    assert run("2026-02-05 10:00", user="u1") == []  # another section's clerk: not their case
    assert run("2026-02-05 10:00", max_days=2) == []
    reopened = case("R45", "2026-02-05 09:50", section="2101", kind="reception", assignee="E5")
    look = event("2026-02-05 10:00", user_id="u5", terminal_id="T5", subject_hash="R45")
    assert AfterCase().detect(window([look], cases=[counter_case(), reopened])) == []


# -- D17 ----------------------------------------------------------------------------------------------------


def inquiry(when: str, subject: str = "R50", **fields: object) -> dict[str, object]:
    return event(when, action="link_inquiry", source="linkage", system="中間サーバー", subject_hash=subject, **fields)


def test_linkage_inquiries_without_case_or_approval() -> None:
    asked = [inquiry("2026-02-03 14:27"), inquiry("2026-02-03 14:30", "R51")]
    backed = inquiry("2026-02-03 14:33", "R52")
    f = only(LinkageWithoutCase().detect(window([*asked, backed], cases=[case("R52", "2026-01-05 09:00")])))
    assert f.user_id == "u1" and f.rule == "D17" and f.subjects == ("R50", "R51") and f.event_ids == ids(*asked)
    assert "中間サーバー" in f.explanation_ja and "住民2人" in f.explanation_ja and "2件" in f.explanation_ja
    assert f.evidence == {"inquiries": 2, "residents": 2}


@pytest.mark.parametrize(
    ("approval", "covered"),
    [
        ({"staff_id": "E1"}, True),
        ({"user_id": "u1"}, True),
        ({"user_id": "u1", "jimu": "個人住民税"}, True),
        ({"user_id": "u1", "jimu": "生活保護"}, False),
        ({"staff_id": "E2"}, False),
        ({"staff_id": "E1", "valid_to": at("2026-02-03 12:00")}, False),
        ({"staff_id": "E1", "action": "export"}, False),
    ],
)
def test_linkage_approvals(approval: dict[str, object], covered: bool) -> None:
    row = {"approval_id": "A1", "action": "link_inquiry", "valid_from": at("2026-02-01 00:00"), **approval}
    w = window([inquiry("2026-02-03 14:27")], approvals=approvals(row))
    assert (LinkageWithoutCase().detect(w) == []) is covered


def test_fingerprints_are_stable_when_the_window_is_run_again() -> None:
    looks = [event(f"2026-02-03 1{i}:00", user_id="u2", subject_hash=f"R1{i}") for i in range(3)]
    first = {f.fingerprint for f in NoCase().detect(window(looks))}
    again = {f.fingerprint for f in NoCase().detect(window(looks))}
    assert first == again and len(first) == 1
