"""The HTTP side of collection: sources with push tokens, pushes of framed records, reference-feed
uploads, and what people see of ingestion (runs, source health, quarantine).

Services never commit a caller's unit of work: functions that take a ``Connection`` write inside the
caller's transaction (the CLI's, or a request's). A push is different on purpose: it is the
pipeline's own unit of work (:class:`collectors.pipeline.StreamIngest` commits the batch, its
quarantine and the run's counters together), so :func:`push` takes the engine.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import fcntl
import hashlib
import hmac
import io
import os
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from auditd.auth.schemas import Principal
from auditd.dashboard.service import SILENT_AFTER
from auditd.errors import (
    AuthenticationRequired,
    ConfigError,
    Conflict,
    NotFound,
    PayloadTooLarge,
    StoreUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
)
from auditd.events import repository as events_repo
from auditd.privacy.mynumber import mask_series
from auditd.settings import Settings
from auditd.trail.service import record
from collectors.formats.base import LineSource, Reject, strip_newline
from collectors.pipeline import Ingestor, IngestSummary, StreamIngest, record_ids
from collectors.profile import REFERENCE_KINDS, Profile, builtin_profiles, load_profile_file, resolve_profile
from collectors.push import repository
from collectors.push.schemas import (
    ImportResult,
    PushResult,
    QuarantineItem,
    QuarantinePage,
    RunList,
    RunOut,
    SourceHealth,
    SourceList,
)
from collectors.reference import ReferenceImporter

#: Push tokens start with this, so secret scanners (and people) recognise a leaked one.
TOKEN_PREFIX = "adt_"  # noqa: S105 - a public prefix, not a secret
TOKEN_BYTES = 32
#: Source names end up in URLs (``/api/v1/ingest/<name>``) and in run inputs: keep them plain.
SOURCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: Printable ASCII without spaces, short enough for ``push:<source>:<key>`` to fit ``ingest_runs.input``.
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,128}")
#: A push holds a lock on its Idempotency-Key while it runs (see :func:`key_lock`), so a retry knows
#: whether the first request is still being processed (409) or died with its process (read it again,
#: which stores nothing twice). Only a run left "running" without its body's fingerprint falls back to
#: its age: the fingerprint is recorded right after the run is opened, so such a run younger than this
#: may be a request in that instant (409), and an older one died there (read it again).
RUNNING_GRACE = timedelta(minutes=1)
#: Seconds a sender is told to wait (``Retry-After``) when the database cannot be reached.
RETRY_AFTER_SECONDS = 30

DEFAULT_PUSH_MAX_BODY_BYTES = 32 * 1024 * 1024
DEFAULT_PUSH_MAX_LINES = 200_000
#: Reference feeds are whole registers (every resident of a city): larger than a batch of log lines.
DEFAULT_IMPORT_MAX_BODY_BYTES = 256 * 1024 * 1024

#: Media types a push may declare. The source's profile reads the body whatever the type says; the
#: type only guards against mistakes (a form upload) and may name the charset.
PUSH_MEDIA_TYPES = frozenset(
    {
        "application/x-ndjson",
        "application/jsonl",
        "application/jsonlines",
        "application/json",
        "text/plain",
        "text/csv",
        "text/tab-separated-values",
        "application/octet-stream",
    }
)
#: Records can only be read from a raw body; these are what a browser form or ``curl -d`` sends.
FORM_MEDIA_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
RAW_BODY_HINT = "send the records as the raw request body, e.g. curl --data-binary @records.jsonl"


@dataclass(frozen=True)
class Limits:
    """Size limits of uploads, from the settings ``push_max_body_bytes``, ``push_max_lines`` and
    ``import_max_body_bytes`` (``AUDITD_PUSH_MAX_BODY_BYTES`` …) when the installed ``Settings`` has
    them, else the defaults. A limit protects the server's memory: a push is held in memory whole
    (it is one transaction), an import is streamed to a temporary file."""

    push_max_body_bytes: int = DEFAULT_PUSH_MAX_BODY_BYTES
    push_max_lines: int = DEFAULT_PUSH_MAX_LINES
    import_max_body_bytes: int = DEFAULT_IMPORT_MAX_BODY_BYTES

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            push_max_body_bytes=int(getattr(settings, "push_max_body_bytes", DEFAULT_PUSH_MAX_BODY_BYTES)),
            push_max_lines=int(getattr(settings, "push_max_lines", DEFAULT_PUSH_MAX_LINES)),
            import_max_body_bytes=int(getattr(settings, "import_max_body_bytes", DEFAULT_IMPORT_MAX_BODY_BYTES)),
        )


def too_large(size: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request body is larger than {limit:,} bytes" + (f" ({size:,})" if size else ""),
        hint="split it into several requests",
    )


# -- tokens ---------------------------------------------------------------------------------------------


def new_token() -> str:
    """A push token: ``adt_`` and 32 random bytes, URL-safe base64 (43 characters)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """What is stored of a token. A plain SHA-256 suffices (no salt, no stretching): the token has 256
    bits of entropy, so there is no dictionary to try; only the hash of a leaked database is useless."""
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


# -- sources (the operator's CLI) --------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    """A token just made: shown once to the operator, never stored or shown again."""

    source: str
    token: str


def _check_source_name(name: str) -> None:
    if not SOURCE_NAME.fullmatch(name):
        raise ValidationFailed(
            f"{name!r} cannot be a source name",
            hint="use 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. zeimu-push)",
        )


def _profile_reference(given: str, chosen: Profile) -> str:
    """How the source remembers its profile: the built-in name, or the profile file's absolute path
    (a relative path would mean something else to ``auditd serve`` started elsewhere)."""
    builtin = builtin_profiles()
    if given in builtin and chosen.path == builtin[given]:
        return given
    assert chosen.path is not None  # every resolved profile was read from a file
    reference = str(chosen.path.resolve())
    if len(reference) > 128:
        raise ValidationFailed(
            f"the profile path {reference} is longer than 128 characters",
            hint="move the profile to a shorter path, or install it as a built-in profile",
        )
    return reference


def add_source(
    connection: Connection,
    municipality_code: str,
    name: str,
    profile: str,
    *,
    system: str | None = None,
    max_silence_hours: int | None = None,
    actor: str,
) -> IssuedToken:
    """Register a source fed by ``profile`` and issue its first push token."""
    _check_source_name(name)
    if max_silence_hours is not None and max_silence_hours < 1:
        raise ValidationFailed("--max-silence-hours must be at least 1")
    if system is not None and not 0 < len(system) <= 64:
        raise ValidationFailed("--system must have 1 to 64 characters")
    chosen = resolve_profile(profile)
    if chosen.kind != "events":
        raise ValidationFailed(
            f"profile {chosen.name} is for {chosen.kind} feeds, not operation logs",
            hint=f"a source needs a profile of kind events; {chosen.kind} files are imported with "
            f"`auditd import {chosen.kind} FILE` or POST /api/v1/import/{chosen.kind}",
        )
    if repository.source_by_name(connection, municipality_code, name) is not None:
        raise Conflict(
            f"a source named {name!r} already exists",
            hint=f"`auditd source token {name}` gives it a new push token; `auditd source list` shows every source",
        )
    issued = IssuedToken(name, new_token())
    repository.add_source(
        connection,
        municipality_code=municipality_code,
        name=name,
        profile=_profile_reference(profile, chosen),
        system=system,
        expected_max_silence_hours=max_silence_hours,
        push_token_hash=token_hash(issued.token),
        created_at=datetime.now(UTC),
    )
    record(
        connection,
        municipality_code,
        actor,
        "create_source",
        "source",
        name,
        {"profile": chosen.name, "system": system, "max_silence_hours": max_silence_hours, "push_token": "issued"},
    )
    return issued


def rotate_token(connection: Connection, municipality_code: str, name: str, *, actor: str) -> IssuedToken:
    """Issue a new push token for a source; the previous one stops working at once."""
    existing = repository.source_by_name(connection, municipality_code, name)
    if existing is None:
        raise NotFound(
            f"no source named {name!r}",
            hint="`auditd source list` shows the sources; `auditd source add NAME --profile P` registers one",
        )
    issued = IssuedToken(name, new_token())
    repository.set_push_token_hash(connection, municipality_code, name, token_hash(issued.token))
    record(
        connection,
        municipality_code,
        actor,
        "rotate_push_token",
        "source",
        name,
        {"replaced_token": existing["push_token_hash"] is not None},
    )
    return issued


def source_health(connection: Connection, municipality_code: str, now: datetime | None = None) -> SourceList:
    """Every source with its last event and whether it has gone silent, measured against ``now`` (the
    wall clock: a source that stopped sending yesterday is silent today, whatever the data says).
    A source without its own limit uses the dashboard's (a daily file a few hours late is not silent)."""
    now = now or datetime.now(UTC)
    default_hours = int(SILENT_AFTER.total_seconds() // 3600)
    sources = []
    for row in events_repo.list_sources(connection, municipality_code):
        limit_hours = row["expected_max_silence_hours"] or default_hours
        last: datetime | None = row["last_event_ts"]
        hours = None if last is None else round((now - last).total_seconds() / 3600, 1)
        sources.append(
            SourceHealth(
                name=row["name"],
                profile=row["profile"],
                system=row["system"],
                last_event_ts=last,
                max_silence_hours=limit_hours,
                silent=hours is None or hours > limit_hours,
                silent_hours=hours,
                push_token=row["push_token_hash"] is not None,
            )
        )
    return SourceList(checked_at=now, sources=sources)


# -- pushing ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushSource:
    """A source whose push token was just verified. The token, not the URL, says whose source it is
    (a consortium may have a source of the same name in several municipalities)."""

    municipality_code: str
    name: str
    profile: str

    @property
    def actor(self) -> str:
        return f"source:{self.name}"


def authenticate_push(engine: Engine, name: str, token: str | None, *, client: str | None = None) -> PushSource:
    """The source ``name`` if ``token`` is its push token; else :class:`AuthenticationRequired`.

    The answer is the same for an unknown source, a source without a token, a wrong token and
    another source's token, so it tells nothing about which sources exist. Refusals for a known
    source are recorded in the trail: an old token still in use after a rotation shows up there.
    """
    presented = token_hash(token) if token else None
    match: dict[str, Any] | None = None
    with engine.begin() as connection:
        candidates = repository.sources_named(connection, name)
        for candidate in candidates:
            stored = candidate["push_token_hash"]
            # every candidate is compared, in constant time, whatever matched before
            if presented is not None and stored is not None and hmac.compare_digest(stored, presented):
                match = candidate
        if match is None:
            reason = "no_token" if token is None else "wrong_token"
            for candidate in candidates:
                record(
                    connection,
                    candidate["municipality_code"],
                    f"source:{name}",
                    "push_refused",
                    "source",
                    name,
                    {"reason": reason},
                    client,
                )
    if match is None:
        raise AuthenticationRequired(
            f"a valid push token of source {name!r} is required",
            hint="send the header `Authorization: Bearer adt_…` with the token printed by "
            "`auditd source add` or `auditd source token`",
        )
    return PushSource(match["municipality_code"], match["name"], match["profile"])


def body_charset(content_type: str | None) -> str | None:
    """The charset a push's ``Content-Type`` names (None: read with the profile's encoding).

    Raises :class:`UnsupportedMediaType` for a form upload or any type that is not one record per line.
    """
    if not content_type:
        return None
    media, _, parameters = content_type.partition(";")
    media = media.strip().lower()
    if media not in PUSH_MEDIA_TYPES:
        hint = RAW_BODY_HINT + " -H 'Content-Type: application/x-ndjson' (or text/csv, text/plain)"
        raise UnsupportedMediaType(f"a push body of type {media} cannot be read", hint=hint)
    for parameter in parameters.split(";"):
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"')
            try:
                codecs.lookup(charset)
            except LookupError as exc:
                raise UnsupportedMediaType(f"unknown charset {charset!r}", hint="utf-8, cp932, euc-jp …") from exc
            return charset
    return None


def count_lines(body: bytes) -> int:
    return body.count(b"\n") + (1 if body and not body.endswith(b"\n") else 0)


@dataclass
class FramedBody:
    """A push body cut into records. ``texts`` has one entry per body line, ``""`` where the line is
    not a record (blank, CSV header, undecodable), so the pipeline numbers records by their line in
    the body and ``raw_ref`` points at the right line. ``rejects`` are the undecodable lines."""

    profile: Profile
    texts: list[str]
    rejects: list[Reject] = field(default_factory=list)

    @property
    def has_records(self) -> bool:
        return any(text.strip() for text in self.texts)


def frame_body(body: bytes, encoding: str, profile: Profile) -> FramedBody:
    """Decode a push line by line, as a file of the profile's format would be read.

    A line that is not valid in ``encoding`` (or holds a NUL byte) is rejected on its own with the
    same reason as in a file. For a CSV profile with ``header: true`` the body starts with the header
    row (after ``skip_rows``): the header names the columns of this body's records, and a first line
    that lacks a column the profile reads is refused (422) rather than silently taken as a header.
    """
    csv_like = profile.format in ("csv", "tsv")
    needs_header = csv_like and profile.header
    to_skip = profile.skip_rows if csv_like else 0
    lines = LineSource(io.BytesIO(body), encoding, position=0, line=0)
    texts: list[str] = []
    for text in lines:
        texts.extend([""] * (lines.line - 1 - len(texts)))  # lines the decoder rejected
        if to_skip:
            to_skip -= 1
            texts.append("")
        elif needs_header:
            texts.append("")
            if text.strip():
                profile = _with_header(profile, text, lines.line)
                needs_header = False
        else:
            texts.append(text)
    texts.extend([""] * (lines.line - len(texts)))
    return FramedBody(profile, texts, list(lines.rejects))


def _with_header(profile: Profile, text: str, line: int) -> Profile:
    try:
        row = next(csv.reader([strip_newline(text)], delimiter=profile.field_delimiter, quotechar=profile.quotechar))
    except (csv.Error, StopIteration) as exc:
        raise ValidationFailed(f"line {line}: the CSV header cannot be read ({exc})") from exc
    names = [name.strip() for name in row]
    wanted = {str(c) for spec in profile.fields.values() for c in spec.source_columns() if isinstance(c, str)}
    missing = sorted(wanted - set(names))
    if missing:
        raise ValidationFailed(
            f"line {line} should be the CSV header of profile {profile.name}, "
            f"but it lacks the column(s) {', '.join(missing)}",
            hint="the profile reads CSV with a header row (header: true): start every push with the header line, "
            "or give the source a profile with header: false and column_names",
        )
    return profile.model_copy(update={"header": False, "column_names": names, "skip_rows": 0})


def _push_profile(source: PushSource) -> Profile:
    """The source's profile, storing events under the source's own name (whatever the profile says)."""
    try:
        profile = resolve_profile(source.profile)
    except ValidationFailed as exc:
        raise ConfigError(
            f"source {source.name}: its profile {source.profile} cannot be loaded on the server",
            hint=exc.message,
        ) from exc
    if profile.kind != "events":
        raise ConfigError(f"source {source.name}: profile {profile.name} is for {profile.kind} feeds, not logs")
    return profile.model_copy(update={"source": source.name})


@dataclass(frozen=True)
class PushOutcome:
    result: PushResult
    replayed: bool = False


def _result_of(summary: IngestSummary) -> PushResult:
    return PushResult(
        run_id=summary.run_id or None,
        read=summary.read,
        accepted=summary.accepted,
        duplicate=summary.duplicates,
        quarantined=summary.quarantined,
        masked=summary.masked,
        quarantine_reasons=dict(summary.reasons),
    )


def push(
    engine: Engine,
    settings: Settings,
    source: PushSource,
    body: bytes,
    *,
    content_type: str | None = None,
    idempotency_key: str | None = None,
    client: str | None = None,
    limits: Limits | None = None,
) -> PushOutcome:
    """Store one push (records, one per line) as one run of ``source``, in one transaction.

    With an ``Idempotency-Key``, the run's input is ``push:<source>:<key>`` and its fingerprint the
    SHA-256 of the body: a later request with the same key gets the stored answer of the completed
    run and stores nothing; the same key with another body is refused (422); while the first is
    still running, 409. Without a key a retried push still stores no event twice (event ids are
    derived from the records), but it is a new run and counts its records as duplicates.
    """
    limits = limits or Limits.of(settings)
    charset = body_charset(content_type)
    if len(body) > limits.push_max_body_bytes:
        raise too_large(len(body), limits.push_max_body_bytes)
    lines = count_lines(body)
    if lines > limits.push_max_lines:
        raise PayloadTooLarge(
            f"the push has {lines:,} lines; at most {limits.push_max_lines:,} are read per request",
            hint="split it into several requests",
        )
    input_name = f"push:{source.name}"
    if idempotency_key is not None:
        if not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
            raise ValidationFailed(
                "the Idempotency-Key must be 1–128 printable ASCII characters without spaces",
                hint="a UUID is a good key",
            )
        input_name = f"push:{source.name}:{idempotency_key}"
    digest = "body:" + hashlib.sha256(body).hexdigest()
    if idempotency_key is None:
        return _store_push(engine, settings, source, body, charset, input_name, digest)
    with key_lock(engine, settings, f"{source.municipality_code}\x1f{input_name}") as mine:
        if not mine:
            raise Conflict(
                "a request with this Idempotency-Key is still being processed",
                hint="retry in a moment: the answer of the first request will be returned",
            )
        earlier = _earlier_push(engine, source, input_name, digest)
        if earlier is not None:
            return PushOutcome(_replay(engine, source, earlier, idempotency_key, client), replayed=True)
        return _store_push(engine, settings, source, body, charset, input_name, digest)


def _store_push(
    engine: Engine,
    settings: Settings,
    source: PushSource,
    body: bytes,
    charset: str | None,
    input_name: str,
    digest: str,
) -> PushOutcome:
    profile = _push_profile(source)
    framed = frame_body(body, charset or profile.encoding, profile)
    if not framed.has_records and not framed.rejects:
        return PushOutcome(_result_of(IngestSummary(source=source.name, input=input_name)))
    stream = StreamIngest(
        Ingestor(engine, settings, source.municipality_code), framed.profile, input_name, actor=source.actor
    )
    with engine.begin() as connection:
        repository.set_run_fingerprint(connection, stream.run_id, digest)
    try:
        if framed.has_records:
            stream.ingest(framed.texts)
        if framed.rejects:
            _quarantine_undecodable(engine, stream, framed.rejects, body)
    except BaseException as exc:
        stream.close("failed", error=f"{type(exc).__name__}: {exc}")
        raise
    return PushOutcome(_result_of(stream.close()))


_HELD_HERE: set[str] = set()
_HELD_LOCK = threading.Lock()


@contextlib.contextmanager
def key_lock(engine: Engine, settings: Settings, key: str) -> Iterator[bool]:
    """Hold a lock on ``key`` while a push runs; yields ``False`` if another request holds it.

    The lock goes with the process that holds it, however it ends (killed included): on PostgreSQL an
    advisory lock of a connection kept for the push, released when its session ends; on SQLite (one
    machine) a POSIX byte-range lock in ``<data_dir>/locks/push.lock``, released by the kernel. Threads
    of one process are kept apart by a set, as POSIX locks do not tell them apart.
    """
    number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
    with _HELD_LOCK:
        if key in _HELD_HERE:
            yield False
            return
        _HELD_HERE.add(key)
    try:
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                got = repository.try_advisory_lock(conn, number)
                conn.commit()
                try:
                    yield got
                finally:
                    if got:
                        repository.advisory_unlock(conn, number)
                        conn.commit()
            return
        folder = settings.data_dir / "locks"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(folder / "push.lock", os.O_RDWR | os.O_CREAT, 0o600)
        offset = number & 0x7FFF_FFFF_FFFF
        try:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
            except OSError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset)
        finally:
            os.close(fd)
    finally:
        with _HELD_LOCK:
            _HELD_HERE.discard(key)


@contextlib.contextmanager
def store_errors() -> Iterator[None]:
    """A database that cannot be reached (down, restarting, refusing connections, locked) is a 503 with
    ``Retry-After``, not a 500: the sender keeps the records and tries again later."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        raise StoreUnavailable(
            "the database cannot be reached just now",
            hint="send the same request again later, with the same Idempotency-Key: nothing is stored twice",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from exc


def _earlier_push(engine: Engine, source: PushSource, input_name: str, digest: str) -> dict[str, Any] | None:
    """The completed run a request with this Idempotency-Key already made, or None to ingest now."""
    with engine.connect() as connection:
        earlier = repository.latest_run_of_input(connection, source.municipality_code, source.name, input_name)
    if earlier is None:
        return None
    if earlier["fingerprint"] is not None and earlier["fingerprint"] != digest:
        raise ValidationFailed(
            "this Idempotency-Key was used before with a different body",
            hint="use a new key for every new batch; reuse a key only to retry the very same request",
        )
    if earlier["status"] == "completed":
        return earlier
    if earlier["fingerprint"] is not None:
        return None  # its request held the key's lock, which is free: that process died. Read it again.
    if earlier["status"] == "running" and earlier["started_at"] > datetime.now(UTC) - RUNNING_GRACE:
        raise Conflict(
            "a request with this Idempotency-Key is still being processed",
            hint="retry in a moment: the answer of the first request will be returned",
        )
    return None  # failed, or abandoned by a process that died: read it again (nothing is stored twice)


def _replay(
    engine: Engine, source: PushSource, run: dict[str, Any], idempotency_key: str, client: str | None
) -> PushResult:
    """The answer of a completed push: counts from its run, reasons from the summary its trail entry
    recorded (quarantine rows are kept once per record, so a record quarantined by an earlier run
    is not among this run's rows, although this run counted it)."""
    run_id = int(run["id"])
    with engine.begin() as connection:
        detail = repository.run_trail_detail(connection, source.municipality_code, run_id)
        reasons = detail.get("quarantine_reasons") if detail else None
        if not isinstance(reasons, dict):
            reasons = repository.quarantine_reasons_of_run(connection, source.municipality_code, run_id)
        record(
            connection,
            source.municipality_code,
            source.actor,
            "push_replayed",
            "ingest_run",
            str(run_id),
            {"idempotency_key": idempotency_key},
            client,
        )
    return PushResult(
        run_id=run_id,
        read=run["records_read"],
        accepted=run["accepted"],
        duplicate=run["duplicates"],
        quarantined=run["quarantined"],
        masked=run["masked"],
        quarantine_reasons={str(k): int(v) for k, v in reasons.items()},
    )


def _quarantine_undecodable(engine: Engine, stream: StreamIngest, rejects: list[Reject], body: bytes) -> None:
    """Keep lines that could not even be decoded, with the run, as a file's would be kept.

    Their key is the raw bytes (two different byte sequences may look alike once decoded with
    replacement characters), so a retried push keeps each of them once.
    """
    municipality_code = stream.ingestor.municipality_code
    source = stream.total.source
    raw_lines = body.split(b"\n")
    frame = pd.DataFrame(
        {
            "_line": [r.line for r in rejects],
            "reason_code": [r.reason_code for r in rejects],
            "reason": pd.array([r.reason for r in rejects], dtype="str"),
            "raw_text": pd.array([r.text for r in rejects], dtype="str"),
        }
    )
    frame["raw_text"], _ = mask_series(frame["raw_text"])
    frame["reason"], _ = mask_series(frame["reason"])
    keys = [f"{r.reason_code}\x1f{raw_lines[r.line - 1].hex()}" for r in rejects]
    frame["record_key"] = record_ids(municipality_code, f"{source}\x1fpush-undecodable", keys)
    frame["municipality_code"] = municipality_code
    frame["run_id"] = stream.run_id
    frame["source"] = source
    frame["raw_ref"] = f"{stream.total.input[-480:]}:" + frame["_line"].astype("str")
    frame["created_at"] = pd.Timestamp(datetime.now(UTC))
    with engine.begin() as connection:
        events_repo.insert_quarantine(connection, frame)
        events_repo.add_to_run(connection, stream.run_id, records_read=len(rejects), quarantined=len(rejects))
    stream.total.read += len(rejects)
    stream.total.quarantined += len(rejects)
    stream.total.reasons.update(r.reason_code for r in rejects)


# -- reference feeds over HTTP -----------------------------------------------------------------------------


def import_profile(kind: str, profile: str | None) -> Profile:
    """The profile an upload of ``kind`` is read with: a built-in one only (installed on the server), as
    a path would let a web user make the server read any file it can."""
    if kind not in REFERENCE_KINDS:
        raise ValidationFailed(f"unknown kind {kind!r}", hint=f"one of: {', '.join(REFERENCE_KINDS)}")
    name = profile or f"standard-{kind}"
    builtin = builtin_profiles()
    if name not in builtin:
        candidates = sorted(n for n in builtin if load_profile_file(builtin[n]).kind == kind)
        raise ValidationFailed(
            f"no built-in profile named {name!r}",
            hint=f"profiles for {kind}: {', '.join(candidates)}; other profiles are installed on the server as plugins",
        )
    chosen = load_profile_file(builtin[name])
    if chosen.kind != kind:
        raise ValidationFailed(f"profile {name} is for {chosen.kind}, not {kind}")
    return chosen


def import_upload(
    engine: Engine, settings: Settings, principal: Principal, profile: Profile, path: Path, filename: str
) -> ImportResult:
    """Import an uploaded reference feed, recorded in the trail under the person who sent it.

    An empty body is refused: in ``replace`` mode it would empty the register, which is never what a
    failed upload meant.
    """
    if path.stat().st_size == 0:
        raise ValidationFailed(
            "the request body is empty", hint="send the file itself as the body: curl --data-binary @staff.csv …"
        )
    importer = ReferenceImporter(engine, settings, principal.municipality_code)
    summary = importer.import_file(path, profile, actor=principal.username)
    return ImportResult.model_validate({**summary.as_dict(), "input": filename})


# -- what people see ----------------------------------------------------------------------------------------


def recent_runs(connection: Connection, municipality_code: str, *, source: str | None, limit: int) -> RunList:
    rows = repository.runs(connection, municipality_code, source=source, limit=limit)
    return RunList(
        runs=[
            RunOut(
                id=row["id"],
                source=row["source"],
                profile=row["profile"],
                input=row["input"],
                status=row["status"],
                started_at=row["started_at"],
                finished_at=row["finished_at"],
                read=row["records_read"],
                accepted=row["accepted"],
                duplicate=row["duplicates"],
                quarantined=row["quarantined"],
                masked=row["masked"],
                error=row["error"],
            )
            for row in rows
        ]
    )


def quarantine_page(
    connection: Connection, municipality_code: str, *, source: str | None, reason: str | None, limit: int
) -> QuarantinePage:
    """The newest quarantined records, and how many there are by reason for the ``source`` filter (all
    reasons, so a list filtered by one reason still shows where it stands among the others)."""
    counts = repository.quarantine_counts(connection, municipality_code, source=source)
    rows = repository.quarantined(connection, municipality_code, source=source, reason=reason, limit=limit)
    return QuarantinePage(
        counts=counts,
        total=sum(counts.values()),
        items=[QuarantineItem.model_validate(row) for row in rows],
    )
