"""Scheduled jobs: declared next to their domain, run by one APScheduler with a persistent job store.

A capability declares its jobs under the ``auditd.jobs`` entry-point group: a function
``jobs() -> list[JobSpec]`` (see ``auditd/integrity/jobs.py``). ``auditd serve`` runs them with one
:class:`Scheduler`:

- **Persistent job store** in the store's own database (``scheduler_jobs``): a job's next run time
  survives a restart, so a run missed while the server was down is due when it starts again.
- ``coalesce=True``: however many runs were missed, the job runs **once** to catch up.
- ``max_instances=1``: a slow run is never overlapped by the next one.
- Misfire grace: :attr:`JobSpec.misfire_grace_seconds` (default: no limit) — how late a missed run
  may still start. With coalescing, the run that catches up stands for the latest one missed.

A job runs once per municipality the store serves, each with its own copy of the settings
(``municipality_code`` set) and its own ``job_runs`` row: one municipality failing does not stop
the others. A job function returns a one-line summary; it raises :class:`CriticalFinding` when it
ran and found something a person must act on (outcome ``critical``), anything else is ``failed``.

APScheduler persists jobs by pickling them; the function it stores is :func:`_fire` with the job id
only, so neither settings (with secrets) nor an engine ever go into the database.
"""

from __future__ import annotations

import logging
import pickle
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import BaseJobStore, ConflictingIdError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.util import datetime_to_utc_timestamp
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from auditd import registry
from auditd.errors import NotFound
from auditd.scheduler import repository as repo
from auditd.scheduler.models import SchedulerJob
from auditd.settings import Settings
from auditd.store.base import table_of
from auditd.trail.service import record as record_trail

log = logging.getLogger("auditd.scheduler")

JobFunction = Callable[[Settings, Engine], str]


class CriticalFinding(Exception):
    """Raised by a job that ran to the end and found something a person must act on now (tampering,
    a silent source…). Its message is the run's summary; the outcome is ``critical``."""


@dataclass(frozen=True)
class JobSpec:
    """A scheduled job, as a capability declares it (the ``auditd.jobs`` extension point).

    ``cron`` holds APScheduler cron fields (``minute``, ``hour``, ``day``, ``month``,
    ``day_of_week`` …) read in ``timezone``. ``run(settings, engine)`` does the work for the
    municipality in ``settings.municipality_code``, in its own transactions, and returns a summary.
    """

    id: str
    title: str
    cron: Mapping[str, str | int]
    run: JobFunction
    timezone: str = "Asia/Tokyo"
    misfire_grace_seconds: int | None = None

    def trigger(self) -> CronTrigger:
        return CronTrigger(timezone=ZoneInfo(self.timezone), **dict(self.cron))

    def describe(self) -> str:
        fields_ = ", ".join(f"{k}={v}" for k, v in self.cron.items())
        return f"cron {fields_} ({self.timezone})"


@dataclass
class RunResult:
    municipality_code: str
    outcome: str
    summary: str | None
    error: str | None = None
    run_id: int = 0


@dataclass
class JobResult:
    """One run of a job over every municipality."""

    job_id: str
    results: list[RunResult] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        outcomes = {r.outcome for r in self.results}
        for worst in ("failed", "critical"):
            if worst in outcomes:
                return worst
        return "ok"


def installed_jobs() -> dict[str, JobSpec]:
    """Every job declared by installed capabilities, by id (an id declared twice is an error)."""
    specs: dict[str, JobSpec] = {}
    for name, declare in registry.load_all("jobs").items():
        for spec in declare():
            if spec.id in specs:
                raise ValueError(f"job {spec.id!r} is declared twice (again by the {name!r} entry point)")
            specs[spec.id] = spec
    return specs


def run_job(spec: JobSpec, settings: Settings, engine: Engine, *, trigger: str = "schedule") -> JobResult:
    """Run ``spec`` for every served municipality, each isolated from the others' failures."""
    with engine.connect() as connection:
        codes = repo.served_municipalities(connection, settings.municipality_code)
    result = JobResult(spec.id)
    for code in codes:
        result.results.append(_run_one(spec, settings.model_copy(update={"municipality_code": code}), engine, trigger))
    return result


def _run_one(spec: JobSpec, settings: Settings, engine: Engine, trigger: str) -> RunResult:
    code = settings.municipality_code
    with engine.begin() as connection:
        run_id = repo.start_run(connection, code, spec.id, trigger, datetime.now(UTC))
    error = None
    try:
        summary: str | None = spec.run(settings, engine)
        outcome = "ok"
    except CriticalFinding as exc:
        summary, outcome = str(exc), "critical"
    except Exception as exc:  # one municipality's failure is recorded, and the next one runs
        summary, outcome = f"{type(exc).__name__}: {exc}", "failed"
        error = "".join(traceback.format_exception(exc))[-4000:]
        log.exception("job %s failed for %s", spec.id, code)
    with engine.begin() as connection:
        repo.finish_run(connection, run_id, outcome, summary, error, datetime.now(UTC))
        record_trail(
            connection,
            code,
            "scheduler",
            "job_run",
            "job",
            spec.id,
            {"outcome": outcome, "summary": summary, "trigger": trigger, "job_run": run_id},
        )
    return RunResult(code, outcome, summary, error, run_id)


# -- the running scheduler -----------------------------------------------------------------------


@dataclass
class _Runtime:
    settings: Settings
    engine: Engine
    specs: dict[str, JobSpec]


_runtime: _Runtime | None = None
_runtime_lock = threading.Lock()


def _fire(job_id: str) -> None:
    """What APScheduler calls (by reference, so the pickled job holds nothing but this id)."""
    runtime = _runtime
    if runtime is None or job_id not in runtime.specs:
        log.warning("job %s fired but no scheduler declares it", job_id)
        return
    run_job(runtime.specs[job_id], runtime.settings, runtime.engine)


class AuditdJobStore(SQLAlchemyJobStore):  # type: ignore[misc]
    """APScheduler's SQLAlchemy job store on the migrated ``scheduler_jobs`` table and the store's engine.

    The table is the one the migrations create (with the municipality code every table carries), not
    one APScheduler would create itself; and shutting the scheduler down leaves the shared engine
    alone.
    """

    def __init__(self, engine: Engine, municipality_code: str) -> None:
        super().__init__(engine=engine)
        self.jobs_t = table_of(SchedulerJob)
        self._municipality_code = municipality_code

    def start(self, scheduler: Any, alias: str) -> None:
        BaseJobStore.start(self, scheduler, alias)  # no create_all: the migration made the table

    def add_job(self, job: Any) -> None:
        stmt = self.jobs_t.insert().values(
            municipality_code=self._municipality_code,
            id=job.id,
            next_run_time=datetime_to_utc_timestamp(job.next_run_time),
            job_state=pickle.dumps(job.__getstate__(), self.pickle_protocol),
        )
        with self.engine.begin() as connection:
            try:
                connection.execute(stmt)
            except IntegrityError as exc:
                raise ConflictingIdError(job.id) from exc

    def shutdown(self) -> None:
        """The engine is the application's: not disposed here."""


class Scheduler:
    """One APScheduler ``BackgroundScheduler`` running the declared jobs (see the module docstring)."""

    def __init__(self, settings: Settings, engine: Engine, specs: dict[str, JobSpec] | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.specs = installed_jobs() if specs is None else specs
        self.aps = BackgroundScheduler(
            jobstores={"default": AuditdJobStore(engine, settings.municipality_code)},
            executors={"default": ThreadPoolExecutor(max_workers=2)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=ZoneInfo(settings.timezone),
        )

    def start(self) -> None:
        """Start: bring the stored jobs in line with the declared ones, then run what is due."""
        global _runtime
        with _runtime_lock:
            if _runtime is not None:
                raise RuntimeError("a scheduler is already running in this process")
            _runtime = _Runtime(self.settings, self.engine, self.specs)
        try:
            self.aps.start(paused=True)
            self._synchronise()
            self.aps.resume()
        except BaseException:
            self._clear()
            raise
        log.info("scheduler started with %d job(s)", len(self.specs))

    def shutdown(self, wait: bool = True) -> None:
        """Stop. The job store is detached first: APScheduler looks at due jobs once more while it stops,
        with its executor already closed, and would mark a run due at that moment as done without
        running it — the very run the next start must catch up."""
        try:
            if self.aps.running:
                self.aps.pause()
                self.aps.remove_jobstore("default", shutdown=False)
                self.aps.shutdown(wait=wait)
        finally:
            self._clear()

    def _clear(self) -> None:
        global _runtime
        with _runtime_lock:
            _runtime = None

    def _synchronise(self) -> None:
        """Add new jobs, reschedule changed ones, remove undeclared ones — and leave an unchanged job's
        next run time alone: that is what makes a run missed during a stop come due now."""
        for spec in self.specs.values():
            trigger = spec.trigger()
            job = self.aps.get_job(spec.id)
            if job is None:
                self.aps.add_job(
                    _fire,
                    trigger=trigger,
                    id=spec.id,
                    name=spec.title,
                    kwargs={"job_id": spec.id},
                    misfire_grace_time=spec.misfire_grace_seconds,
                    coalesce=True,
                    max_instances=1,
                )
                continue
            if str(job.trigger) != str(trigger) or getattr(job.trigger, "timezone", None) != trigger.timezone:
                job.reschedule(trigger)
            if job.name != spec.title or job.misfire_grace_time != spec.misfire_grace_seconds:
                job.modify(name=spec.title, misfire_grace_time=spec.misfire_grace_seconds)
        for job in self.aps.get_jobs():
            if job.id not in self.specs:
                log.info("removing job %s: no installed capability declares it any more", job.id)
                job.remove()

    def next_run_times(self) -> dict[str, datetime | None]:
        return {job.id: job.next_run_time for job in self.aps.get_jobs()}


def run_now(job_id: str, settings: Settings, engine: Engine, specs: dict[str, JobSpec] | None = None) -> JobResult:
    """Run one job at once in this process (``auditd scheduler run-now``), recorded like a scheduled run."""
    declared = installed_jobs() if specs is None else specs
    if job_id not in declared:
        raise NotFound(f"no job {job_id!r}", hint=f"declared jobs: {', '.join(sorted(declared)) or '(none)'}")
    return run_job(declared[job_id], settings, engine, trigger="now")
