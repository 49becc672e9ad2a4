"""Generate a whole demo city into a directory: reference feeds, vendor logs, manifest, ground truth."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from auditd.demo.activity import Activity, batch_and_admin, business_activity, login_events
from auditd.demo.incidents import Incident, plant
from auditd.demo.world import CityConfig, build_world
from auditd.demo.writers import (
    welfare_sequence_gaps,
    write_auth,
    write_linkage,
    write_reference,
    write_tax,
    write_welfare,
)
from auditd.pipeline import InputFile

LOG_PROFILES = {"tax": "demo-tax", "welfare": "demo-welfare", "linkage": "demo-linkage", "auth": "demo-auth"}


@dataclass
class Manifest:
    """What was generated: feed the ``inputs`` to the collect step, in order."""

    out_dir: Path
    config: CityConfig
    inputs: list[InputFile]
    incidents: list[Incident]
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def events(self) -> int:
        return sum(v for k, v in self.counts.items() if k.startswith("events:"))


def generate_city(out_dir: Path, config: CityConfig | None = None) -> Manifest:
    """Write a city into ``out_dir`` (created; existing generated files are overwritten)."""
    started = time.perf_counter()
    config = config or CityConfig()
    world = build_world(config)
    activity = Activity()
    business_activity(world, activity)
    batch_and_admin(world, activity)
    incidents = plant(world, activity) if config.incidents else []
    login_events(activity, world.rng)
    world.cases = pd.concat([world.cases, pd.DataFrame(activity.extra_cases)], ignore_index=True)
    world.output_approvals = pd.DataFrame(activity.approvals)

    events = activity.frame()
    events["ts"] = pd.to_datetime(events["ts"])
    end = pd.Timestamp(config.end)
    events = events[(events["ts"] >= pd.Timestamp(config.start)) & (events["ts"] < end)]
    for incident in incidents:  # a source that falls silent sends nothing from then on
        if incident.kind == "silent_source":
            silent_from = pd.Timestamp(incident.start[:19])
            events = events[~((events["source"] == incident.extra["source"]) & (events["ts"] >= silent_from))]
    tampering = [i for i in incidents if i.kind == "audit_tampering"]
    gaps = [(pd.Timestamp(str(i.extra["gap_from"])), pd.Timestamp(str(i.extra["gap_to"]))) for i in tampering]
    # the welfare system's sequence numbers the lost records would have had: the truth of each gap
    lost = dict(
        zip([i.id for i in tampering], welfare_sequence_gaps(events[events["source"] == "welfare"], gaps), strict=True)
    )
    for incident in incidents:
        if incident.kind == "sequence_gap":
            seq = lost.get(str(incident.extra.get("cause")))
            incident.extra["seq_from"], incident.extra["seq_to"] = (seq[0], seq[1]) if seq else (None, None)
            incident.extra["records_lost"] = 0 if seq is None else seq[1] - seq[0] + 1

    logs = out_dir / "logs"
    paths = {
        "tax": write_tax(events[events["source"] == "tax"], logs / "tax"),
        "welfare": write_welfare(events[events["source"] == "welfare"], logs / "welfare", gaps),
        "linkage": write_linkage(events[events["source"] == "linkage"], logs / "linkage"),
        "auth": write_auth(events[events["source"] == "auth"], logs / "auth"),
    }
    inputs = write_reference(world, out_dir / "reference")
    for source, files in paths.items():
        inputs.extend(InputFile(kind="events", path=p, profile=LOG_PROFILES[source]) for p in files)
    counts = {f"events:{s}": int((events["source"] == s).sum()) for s in paths}
    counts["events:welfare"] -= sum(hi - lo + 1 for seq in lost.values() if seq is not None for lo, hi in [seq])
    counts.update(
        residents=len(world.residents),
        staff=len(world.staff),
        cases=len(world.cases),
        user_days=int(str(world.notes.get("user_days", 0))),
    )
    manifest = Manifest(
        out_dir=out_dir,
        config=config,
        inputs=inputs,
        incidents=incidents,
        counts=counts,
        seconds=time.perf_counter() - started,
    )
    _write_json(
        out_dir / "manifest.json",
        {
            "municipality_code": config.municipality_code,
            "name": config.name,
            "config": _jsonable(asdict(config)),
            "inputs": [
                {"kind": i.kind, "path": str(i.path.relative_to(out_dir)), "profile": i.profile} for i in inputs
            ],
            "counts": counts,
        },
    )
    _write_json(
        out_dir / "truth.json",
        {
            "municipality_code": config.municipality_code,
            "period": [str(config.start), str(config.end - timedelta(days=1))],
            "incidents": [i.as_dict() for i in incidents],
            "lookalikes": activity.lookalikes,
            "note": "Ground truth of the planted incidents. Resident identifiers here are synthetic 宛名番号.",
        },
    )
    return manifest


def _jsonable(data: dict[str, object]) -> dict[str, object]:
    return {
        k: (v.isoformat() if isinstance(v, datetime | pd.Timestamp) or hasattr(v, "isoformat") else v)
        for k, v in data.items()
    }


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
