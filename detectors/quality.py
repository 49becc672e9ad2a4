"""Scoring alerts against a generated city's ground truth (``truth.json`` of ``auditd.demo``).

- An alert **matches** an incident when their times overlap (the incident's span, widened by
  ``slack``) and the alert is about the incident's people: one of its accounts, or one of its
  residents; an incident with neither (a silent source, a gap in a log) is matched by an alert of one
  of its detectors in that time.
- **Incident recall**: incidents matched by at least one alert (any detector: the officer finds the
  story either way); per detector: incidents listing that detector matched by an alert of it.
- **Alert precision**: alerts that match some incident. Alerts on a planted legitimate look-alike are
  false, and counted separately (``lookalike_alerts``), since those are what an officer resents most.
- **False alerts per 100 user-days**: unmatched alerts for every 100 (account, day) with operations.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pandas as pd


@dataclass
class Quality:
    incidents: int = 0
    detected: int = 0
    alerts: int = 0
    true_alerts: int = 0
    user_days: int = 0
    lookalike_alerts: int = 0
    per_detector: dict[str, dict[str, float]] = field(default_factory=dict)
    missed: list[str] = field(default_factory=list)
    false_by_rule: Counter[str] = field(default_factory=Counter)

    @property
    def recall(self) -> float:
        return self.detected / self.incidents if self.incidents else 1.0

    @property
    def precision(self) -> float:
        return self.true_alerts / self.alerts if self.alerts else 1.0

    @property
    def false_per_100_user_days(self) -> float:
        return 100.0 * (self.alerts - self.true_alerts) / self.user_days if self.user_days else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "incidents": self.incidents,
            "detected": self.detected,
            "recall": round(self.recall, 4),
            "alerts": self.alerts,
            "true_alerts": self.true_alerts,
            "precision": round(self.precision, 4),
            "user_days": self.user_days,
            "false_per_100_user_days": round(self.false_per_100_user_days, 3),
            "lookalike_alerts": self.lookalike_alerts,
            "false_by_rule": dict(self.false_by_rule),
            "missed": self.missed,
            "per_detector": self.per_detector,
        }


def _instant(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


def _stories(items: list[dict[str, Any]], hash_subject: Callable[[str], str], slack: timedelta) -> list[dict[str, Any]]:
    rows = []
    for item in items:
        users = item.get("users") or ([item["user"]] if item.get("user") else [])
        start = item.get("start") or (min(item["days"]) + "T00:00:00+09:00" if item.get("days") else None)
        if start is None and item.get("day"):
            start = f"{item['day']}T00:00:00+09:00"
        end = item.get("end") or (max(item["days"]) + "T23:59:59+09:00" if item.get("days") else None)
        if end is None and item.get("day"):
            end = f"{item['day']}T23:59:59+09:00"
        rows.append(
            {
                "id": item.get("id", item.get("kind")),
                "kind": item.get("kind"),
                "detectors": set(item.get("detectors", [])),
                "must_not": set(item.get("must_not", [])),
                "users": {str(u) for u in users},
                "subjects": {hash_subject(str(s)) for s in item.get("subjects", [])},
                "start": _instant(start) - slack if start else None,
                "end": _instant(end) + slack if end else None,
            }
        )
    return rows


def _matches(alert: dict[str, Any], story: dict[str, Any]) -> bool:
    if story["start"] is not None and (alert["end"] < story["start"] or alert["start"] > story["end"]):
        return False
    if alert["user_id"] in story["users"] or (story["subjects"] & alert["subjects"]):
        return True
    return not story["users"] and not story["subjects"] and alert["rule"] in story["detectors"]


def score(
    alerts: pd.DataFrame,
    truth: dict[str, Any],
    hash_subject: Callable[[str], str],
    user_days: int,
    *,
    slack: timedelta = timedelta(hours=1),
) -> Quality:
    """Score stored alerts (rows of ``alerts``: rule, user_id, subjects JSON, start, end) against ``truth``."""
    incidents = _stories(truth.get("incidents", []), hash_subject, slack)
    lookalikes = _stories(truth.get("lookalikes", []), hash_subject, slack)
    listed: list[dict[str, Any]] = [
        {
            "rule": str(row["rule"]),
            "user_id": row["user_id"] if isinstance(row["user_id"], str) else None,
            "subjects": set(json.loads(row["subjects"])) if isinstance(row["subjects"], str) else set(row["subjects"]),
            "start": pd.Timestamp(row["start"]).tz_convert("UTC"),
            "end": pd.Timestamp(row["end"]).tz_convert("UTC"),
        }
        for row in alerts.to_dict("records")
    ]
    incident_rows = incidents
    quality = Quality(incidents=len(incident_rows), alerts=len(listed), user_days=user_days)
    found_by: dict[str, set[str]] = {str(i["id"]): set() for i in incident_rows}
    for alert in listed:
        hits = [i for i in incident_rows if _matches(alert, i)]
        for incident in hits:
            found_by[str(incident["id"])].add(alert["rule"])
        if hits:
            quality.true_alerts += 1
            continue
        quality.false_by_rule[alert["rule"]] += 1
        if any(_matches(alert, lk) and alert["rule"] in lk["must_not"] for lk in lookalikes):
            quality.lookalike_alerts += 1
    for incident in incident_rows:
        if found_by[str(incident["id"])]:
            quality.detected += 1
        else:
            quality.missed.append(f"{incident['id']} {incident['kind']}")
    codes = sorted({d for i in incident_rows for d in i["detectors"]} | {a["rule"] for a in listed})
    for code in codes:
        expected = [i for i in incident_rows if code in i["detectors"]]
        hit = [i for i in expected if code in found_by[str(i["id"])]]
        mine = [a for a in listed if a["rule"] == code]
        quality.per_detector[code] = {
            "incidents": len(expected),
            "recall": round(len(hit) / len(expected), 4) if expected else float("nan"),
            "alerts": len(mine),
            "false_alerts": quality.false_by_rule[code],
        }
    return quality
