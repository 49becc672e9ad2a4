"""The drop-folder watcher: look at folders every few seconds and ingest what is new.

Municipal systems drop daily exports into a shared folder, and some append to a live log there. The
watcher polls (``os.scandir``, nothing else) because that works the same on a local disk, an SMB or
NFS share and Windows, where change notifications are missing or unreliable.

What makes it safe is the ingest pipeline, not the watcher: every chunk commits its events with the
run's checkpoint, so a file is always continued from exactly where the last committed chunk ended —
after a pass, after a restart, after ``kill -9``. The watcher only decides *when* to read a file and
*how much* of it:

- A file whose size and modification time are the same as at the last pass is skipped without being
  opened (kept in memory; after a restart the first look at each file costs one ``ingest_runs`` row
  and a read of its first 64 KiB, because the checkpoint says everything is stored already).
- A file still being written may end in half a line. Until the file has not changed for
  ``settle_seconds``, only complete lines are read (``complete_only``); once it has *settled*, its
  unterminated last line, if any, is read too.
- A file that shrank or was replaced (rotation) is read from the start: its checkpoint no longer fits
  its size or first bytes, which the pipeline checks.
- An error on one file (unreadable, permission denied, the store briefly gone) is logged with the
  file's name and does not stop the others; the file is tried again at the next pass, and less often
  while it keeps failing unchanged.
- Stopping (SIGINT, SIGTERM → ``stop_event``) happens between files, never inside a chunk's
  transaction; being killed outright is also safe, by the checkpoints.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import shutil
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from auditd.errors import AuditdError
from auditd.settings import Settings
from collectors.pipeline import Ingestor, IngestSummary
from collectors.watch.config import Rule, WatchConfig

log = logging.getLogger("collectors.watch")

#: Actor of the ingest runs and trail entries the watcher makes.
ACTOR = "watch"
#: A file that keeps failing unchanged is tried at most this far apart.
MAX_RETRY_SECONDS = 300.0


@dataclass
class _FileState:
    """What the watcher remembers of one file, valid while its size and modification time stay the same."""

    size: int
    mtime_ns: int
    stable_since: float  # monotonic clock: since when (size, mtime) has been seen unchanged
    read: bool = False  # read successfully at this size and mtime
    done: bool = False  # … and nothing is left to read (it was settled, or it ends with a newline)
    failures: int = 0  # consecutive failures at this size and mtime
    retry_at: float = 0.0  # monotonic clock: not before this after a failure


@dataclass(frozen=True)
class _Candidate:
    path: Path
    rule: Rule
    size: int
    mtime_ns: int

    @property
    def name(self) -> str:
        """The name shown to people: relative to the watched folder (subfolders included)."""
        try:
            return str(self.path.relative_to(self.rule.dir))
        except ValueError:
            return str(self.path)


@dataclass
class FileResult:
    """What one pass did with one file."""

    path: Path
    profile: str
    summary: IngestSummary | None = None
    settled: bool = False
    error: str | None = None
    archived_to: Path | None = None


@dataclass
class PassResult:
    """What one pass did: the files it opened or archived, and the problems it met."""

    files: list[FileResult] = field(default_factory=list)
    unchanged: int = 0
    problems: list[str] = field(default_factory=list)
    stopped: bool = False

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.error is not None]

    @property
    def ok(self) -> bool:
        return not self.problems and not self.failed


@dataclass
class WatchStats:
    """Counters since the watcher started; tests and the heartbeat read them."""

    passes: int = 0
    opened: int = 0  # ingest_file calls
    unchanged: int = 0  # files skipped without being opened
    failures: int = 0
    archived: int = 0
    read: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0

    def copy(self) -> WatchStats:
        return WatchStats(**vars(self))


class Watcher:
    """Polls the folders of a :class:`WatchConfig` and ingests what appears or grows there.

    ``clock`` (wall time, compared with files' modification times) and ``monotonic`` (for how long
    the watcher itself has seen a file unchanged) can be replaced by tests.
    """

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        config: WatchConfig,
        *,
        municipality_code: str | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.ingestor = Ingestor(engine, settings, municipality_code)
        self.stats = WatchStats()
        self._clock = clock
        self._monotonic = monotonic
        self._files: dict[Path, _FileState] = {}
        self._warned: set[str] = set()
        self._unreachable: set[Path] = set()

    # -- the loop --------------------------------------------------------------------------------

    def run_forever(self, stop_event: threading.Event) -> None:
        """Pass after pass until ``stop_event`` is set; it is checked between files and while waiting."""
        for rule in self.config.rules:
            log.info("watching %s", rule.describe())
        settle = sorted({rule.settle_seconds for rule in self.config.rules})
        log.info(
            "every %g s; a file unchanged for %s s counts as finished (Ctrl+C stops after the current file)",
            self.config.interval_seconds,
            "/".join(f"{s:g}" for s in settle),
        )
        last = self.stats.copy()
        next_heartbeat = self._monotonic() + self.config.heartbeat_seconds
        while not stop_event.is_set():
            try:
                self.run_once(stop_event)
            except Exception:  # a bug or a surprise must not end a service nobody is watching
                log.exception("the look at the folders failed; trying again in %g s", self.config.interval_seconds)
            if self._monotonic() >= next_heartbeat:
                self._heartbeat(last)
                last = self.stats.copy()
                next_heartbeat = self._monotonic() + self.config.heartbeat_seconds
            stop_event.wait(self.config.interval_seconds)
        log.info("stopped")

    def run_once(self, stop_event: threading.Event | None = None) -> PassResult:
        """One pass: list the matching files (oldest first) and ingest, settle or archive each."""
        result = PassResult()
        candidates, matched, listed_all = self._list(result)
        if listed_all:  # forget files that are gone, unless a folder could not be listed this time
            for path in [p for p in self._files if p not in matched]:
                del self._files[path]
        for candidate in candidates:
            if stop_event is not None and stop_event.is_set():
                result.stopped = True
                break
            outcome = self._visit(candidate)
            if outcome is None:
                result.unchanged += 1
            else:
                result.files.append(outcome)
        self.stats.passes += 1
        return result

    # -- listing ---------------------------------------------------------------------------------

    def _list(self, result: PassResult) -> tuple[list[_Candidate], set[Path], bool]:
        """Regular files matching a rule, sorted by modification time then path (the order they were written);
        every matching path (including those that could not be looked at); whether every folder was listed."""
        found: dict[Path, _Candidate] = {}
        matched: set[Path] = set()
        listed_all = True
        for rule in self.config.rules:
            try:
                paths = list(_matching(rule, self._warn_once))
            except OSError as exc:
                listed_all = False
                message = f"{rule.dir}: cannot list the folder ({_describe(exc)})"
                result.problems.append(message)
                if rule.dir not in self._unreachable:  # once, not every few seconds while a share is down
                    self._unreachable.add(rule.dir)
                    log.error("%s; trying again every %g s", message, self.config.interval_seconds)
                continue
            if rule.dir in self._unreachable:
                self._unreachable.discard(rule.dir)
                log.info("%s: the folder can be listed again", rule.dir)
            for path in paths:
                if path in matched and path not in found:
                    continue  # already reported by an earlier rule
                matched.add(path)
                if path in found:
                    self._warn_once(
                        f"double:{path}",
                        f"{path}: matched by rule {found[path].rule.index + 1} and rule {rule.index + 1}; "
                        f"read with the first ({found[path].rule.profile.name})",
                    )
                    continue
                try:
                    info = os.stat(path)
                except FileNotFoundError:
                    if not os.path.lexists(path):
                        continue  # gone since it was listed (a temporary file renamed): nothing to do
                    outcome = self._fail(path, rule, -1, -1, "a link to a file that does not exist")
                    if outcome is not None:
                        result.files.append(outcome)
                    continue
                except OSError as exc:
                    outcome = self._fail(path, rule, -1, -1, _describe(exc))
                    if outcome is not None:
                        result.files.append(outcome)
                    continue
                if stat.S_ISREG(info.st_mode):  # not folders, pipes or devices: opening a pipe would block
                    found[path] = _Candidate(path, rule, info.st_size, info.st_mtime_ns)
        ordered = sorted(found.values(), key=lambda c: (c.mtime_ns, str(c.path)))
        return ordered, matched, listed_all

    # -- one file --------------------------------------------------------------------------------

    def _state(self, candidate: _Candidate, now: float) -> tuple[_FileState, bool]:
        """The remembered state if the file is unchanged (``True``), else a fresh one (``False``)."""
        previous = self._files.get(candidate.path)
        if previous is not None and (previous.size, previous.mtime_ns) == (candidate.size, candidate.mtime_ns):
            return previous, True
        state = _FileState(candidate.size, candidate.mtime_ns, stable_since=now)
        self._files[candidate.path] = state
        return state, False

    def _settled(
        self, candidate: _Candidate, state: _FileState, unchanged: bool, first_sight: bool, now: float
    ) -> bool:
        """Finished being written: not modified for ``settle_seconds``.

        By the file's own modification time (what a cron run, or a watcher just restarted, has), or by
        how long this watcher has seen it unchanged (when the file server's clock runs ahead). A file
        seen changing since the last pass is never settled, whatever its time says (a copy that
        keeps the original's time, a server clock running behind).
        """
        if not (unchanged or first_sight):
            return False
        settle = candidate.rule.settle_seconds
        age = self._clock() - candidate.mtime_ns / 1e9
        return age >= settle or (unchanged and now - state.stable_since >= settle)

    def _visit(self, candidate: _Candidate) -> FileResult | None:
        """Ingest, settle or archive one file; ``None`` when it was left alone (unchanged, or waiting to retry)."""
        now = self._monotonic()
        first_sight = candidate.path not in self._files
        state, unchanged = self._state(candidate, now)
        settled = self._settled(candidate, state, unchanged, first_sight, now)
        if state.failures and now < state.retry_at:
            return None
        if state.done or (state.read and not settled):
            self.stats.unchanged += 1
            if state.done and settled and candidate.rule.archive_dir is not None:
                return self._archive(candidate, state)
            return None
        result = FileResult(candidate.path, candidate.rule.profile.name, settled=settled)
        self.stats.opened += 1
        try:
            summary = self.ingestor.ingest_file(
                candidate.path, candidate.rule.profile, complete_only=not settled, actor=ACTOR
            )
            done = settled or _ends_with_newline(candidate.path, candidate.size)
        except Exception as exc:  # one file's trouble must not stop the others
            self._log_failure(candidate.path, exc, state, now)
            result.error = _describe(exc)
            return result
        state.read, state.done, state.failures = True, done, 0
        result.summary = summary
        self._count(summary)
        if summary.read:
            log.info(
                "%s: read %s, accepted %s, duplicate %s, quarantined %s%s",
                candidate.name,
                f"{summary.read:,}",
                f"{summary.accepted:,}",
                f"{summary.duplicates:,}",
                f"{summary.quarantined:,}",
                "" if done else " (its last line is not finished: read when the file settles)",
            )
        if done and settled and candidate.rule.archive_dir is not None:
            archived = self._archive(candidate, state)
            if archived is not None:
                result.archived_to, result.error = archived.archived_to, archived.error
        return result

    def _archive(self, candidate: _Candidate, state: _FileState) -> FileResult | None:
        """Move a settled, completely read file to the archive folder (keeping subfolders); never overwrite.

        ``None`` when there was nothing to do: the file changed since it was listed (the next pass
        reads the rest first) or is gone.
        """
        rule = candidate.rule
        assert rule.archive_dir is not None
        result = FileResult(candidate.path, rule.profile.name, settled=True)
        try:
            info = os.stat(candidate.path)
            if (info.st_size, info.st_mtime_ns) != (candidate.size, candidate.mtime_ns):
                return None
            folder = rule.archive_dir / candidate.path.parent.relative_to(rule.dir)
            folder.mkdir(parents=True, exist_ok=True)
            target = _move_without_overwriting(candidate.path, folder)
        except FileNotFoundError:
            self._files.pop(candidate.path, None)  # moved away by someone else: nothing to archive
            return None
        except OSError as exc:
            self._log_failure(candidate.path, exc, state, self._monotonic(), doing="cannot archive")
            result.error = _describe(exc)
            return result
        self._files.pop(candidate.path, None)
        self.stats.archived += 1
        result.archived_to = target
        log.info("%s: archived to %s", candidate.name, target)
        return result

    # -- failures and counters -------------------------------------------------------------------

    def _fail(self, path: Path, rule: Rule, size: int, mtime_ns: int, message: str) -> FileResult | None:
        """A file that cannot even be looked at (broken link, no permission on its folder)."""
        now = self._monotonic()
        state, _ = self._state(_Candidate(path, rule, size, mtime_ns), now)
        if state.failures and now < state.retry_at:
            return None
        self._log_failure(path, OSError(message), state, now, doing="cannot read")
        return FileResult(path, rule.profile.name, error=message)

    def _log_failure(
        self, path: Path, exc: BaseException, state: _FileState, now: float, *, doing: str = "not ingested"
    ) -> None:
        """Log with the file's name, and space the retries of a file that keeps failing unchanged."""
        state.failures += 1
        delay = min(self.config.interval_seconds * (2 ** (state.failures - 1) - 1), MAX_RETRY_SECONDS)
        state.retry_at = now + delay
        self.stats.failures += 1
        when = "at the next pass" if delay <= 0 else f"in {delay:g} s (failed {state.failures} times)"
        expected = isinstance(exc, OSError | AuditdError | SQLAlchemyError)
        log.error("%s: %s: %s; trying again %s", path, doing, _describe(exc), when, exc_info=not expected)

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message)

    def _count(self, summary: IngestSummary) -> None:
        self.stats.read += summary.read
        self.stats.accepted += summary.accepted
        self.stats.duplicates += summary.duplicates
        self.stats.quarantined += summary.quarantined

    def _heartbeat(self, since: WatchStats) -> None:
        now = self.stats
        log.info(
            "still watching %d folder(s), %d file(s) known; since the last such line: %d pass(es), "
            "%s record(s) read, %s accepted, %s quarantined, %d failure(s)",
            len(self.config.rules),
            len(self._files),
            now.passes - since.passes,
            f"{now.read - since.read:,}",
            f"{now.accepted - since.accepted:,}",
            f"{now.quarantined - since.quarantined:,}",
            now.failures - since.failures,
        )


def _matching(rule: Rule, warn_once: Callable[[str, str], None]) -> Iterator[Path]:
    """Paths whose file name matches the rule's pattern (case matters, as in a shell); skips the archive.

    An unreadable subfolder is warned about once and skipped; an unreadable watched folder raises.
    """
    if not rule.recursive:
        with os.scandir(rule.dir) as entries:
            for entry in entries:
                if fnmatch.fnmatchcase(entry.name, rule.pattern):
                    yield Path(entry.path)
        return
    errors: list[OSError] = []
    for top, folders, names in os.walk(rule.dir, onerror=errors.append):
        here = Path(top)
        if rule.archive_dir is not None:
            folders[:] = [f for f in folders if here / f != rule.archive_dir]
        folders.sort()
        for name in names:
            if fnmatch.fnmatchcase(name, rule.pattern):
                yield here / name
    for error in errors:
        if Path(error.filename or "") == rule.dir:
            raise error  # the watched folder itself: the caller reports it
        warn_once(f"subfolder:{error.filename}", f"{error.filename}: cannot list the subfolder ({_describe(error)})")


def _ends_with_newline(path: Path, size: int) -> bool:
    """Whether the first ``size`` bytes end a line: then reading complete lines left nothing behind."""
    if size == 0:
        return True
    with path.open("rb") as handle:
        handle.seek(size - 1)
        return handle.read(1) == b"\n"


def _move_without_overwriting(source: Path, folder: Path) -> Path:
    """Move ``source`` into ``folder`` under its name, or ``name.1.ext``, ``name.2.ext`` … if taken.

    A hard link (then unlinking the source) or an exclusive create never replaces an existing file,
    unlike ``rename``; the copy is for another file system or a share without hard links.
    """
    for n in range(10_000):
        target = folder / (source.name if n == 0 else f"{source.stem}.{n}{source.suffix}")
        try:
            os.link(source, target)
        except FileExistsError:
            continue
        except OSError:
            try:
                with source.open("rb") as reader, target.open("xb") as writer:
                    shutil.copyfileobj(reader, writer, 1 << 20)
            except FileExistsError:
                continue
            except BaseException:
                target.unlink(missing_ok=True)  # our own partial copy; the source is untouched
                raise
            shutil.copystat(source, target)
        source.unlink()
        return target
    raise FileExistsError(f"{folder}: no free name for {source.name} after 10,000 tries")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, AuditdError):
        return exc.message
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, OSError) and exc.args:
        return str(exc.args[0])
    return f"{type(exc).__name__}: {exc}"
