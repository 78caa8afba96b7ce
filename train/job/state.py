"""The job file (`job.json` in the work folder) and the work folder's lock.

The job file records what the job is (videos, preset, bundle), its plan (step counts,
estimates, the finish time it announced), the seconds per step it timed, and per phase
(check, prepare, timing, each training stage, export, eval, report) its status and
attempts: when each started, from which training step, how long it ran and how it
ended. It is rewritten atomically after every change, and while a phase runs every few
seconds, so a killed job leaves a file that says how far it got.

The lock (`job.lock`) holds the PID of the job working in the folder, under an
exclusive `fcntl.flock`: the kernel releases it when that process ends, however it
ends, so a lock left by a dead process is never in the way. Where `flock` is not
supported, the PID in the file decides: a lock whose process is gone is stale.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from engine.errors import InputError

log = logging.getLogger(__name__)

FORMAT = "dancenow-avatar-job"
VERSION = 1
IDENTITY_KEYS = ("videos", "heldout_videos", "preset")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class JobBusy(InputError):
    """Another job is working in the folder."""


class WorkLock:
    """An exclusive lock on a work folder while a job runs in it (a context manager)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = None

    def __enter__(self) -> WorkLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

    def _holder(self) -> int | None:
        try:
            return int(self.path.read_text().strip() or 0) or None
        except (OSError, ValueError):
            return None

    def _busy(self, pid: int | None) -> JobBusy:
        who = f" (PID {pid})" if pid else ""
        return JobBusy(f"{self.path.parent} is in use by another `dancenow avatar create`"
                       f"{who}: wait for it to finish or stop it, or choose another --work")

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                fh.close()
                raise self._busy(self._holder()) from None
            # No flock here (some network file systems): the PID in the file decides.
            pid = self._holder()
            if pid and pid != os.getpid() and _alive(pid):
                fh.close()
                raise self._busy(pid) from None
            if pid:
                log.info("%s: the lock of PID %d is stale (no such process)", self.path, pid)
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is None:
            return
        try:
            self._fh.seek(0)
            self._fh.truncate()
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
        except OSError:
            log.debug("%s: could not clear the lock on release", self.path)
        finally:
            self._fh.close()
            self._fh = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class JobState:
    """`job.json`: read, changed under a thread lock, written atomically."""

    def __init__(self, path: Path, data: dict) -> None:
        self.path = path
        self.data = data
        self._lock = threading.RLock()

    # -- creation -----------------------------------------------------------------------
    @classmethod
    def read(cls, path: Path) -> JobState | None:
        """The job file at `path`, or None where there is none."""
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"{path} is damaged ({exc}): remove it to start the job "
                             "again") from exc
        if data.get("format") != FORMAT:
            raise InputError(f"{path} is not a dancenow avatar job file")
        return cls(path, data)

    @classmethod
    def new(cls, path: Path, identity: dict) -> JobState:
        state = cls(path, {"format": FORMAT, "version": VERSION, **identity,
                           "created": now_iso(), "phases": {}})
        state.save()
        return state

    def identity(self) -> dict:
        return {k: self.data.get(k) for k in IDENTITY_KEYS}

    def save(self) -> None:
        with self._lock:
            tmp = self.path.with_name(self.path.name + ".part")
            tmp.write_text(json.dumps(self.data, indent=2) + "\n")
            os.replace(tmp, self.path)

    # -- phases -------------------------------------------------------------------------
    def phase(self, name: str) -> dict:
        with self._lock:
            return self.data["phases"].setdefault(name, {"status": "pending", "attempts": []})

    def done(self, name: str) -> bool:
        return self.data["phases"].get(name, {}).get("status") == "done"

    def seconds(self, name: str) -> float:
        return float(sum(a.get("seconds", 0.0)
                         for a in self.data["phases"].get(name, {}).get("attempts", [])))

    def all_seconds(self) -> dict[str, float]:
        return {name: round(self.seconds(name), 1) for name in self.data["phases"]}

    def begin(self, name: str, from_step: int | None = None) -> PhaseClock:
        """Record a new attempt at phase `name`; returns its clock."""
        with self._lock:
            phase = self.phase(name)
            phase["status"] = "running"
            attempt = {"started": now_iso(), "seconds": 0.0, "outcome": "running"}
            if from_step is not None:
                attempt["from_step"] = from_step
            phase["attempts"].append(attempt)
            self.save()
        return PhaseClock(self, attempt)

    def finish(self, name: str, clock: PhaseClock, **extra: object) -> None:
        with self._lock:
            clock.stop("done")
            phase = self.phase(name)
            phase["status"] = "done"
            phase.update(extra)
            self.save()

    def abort(self, name: str, clock: PhaseClock, outcome: str) -> None:
        with self._lock:
            clock.stop(outcome)
            self.phase(name)["status"] = "interrupted"
            self.save()


class PhaseClock:
    """The running attempt of a phase: its seconds are kept up to date in the job file."""

    def __init__(self, state: JobState, attempt: dict) -> None:
        self.state = state
        self.attempt = attempt
        self.started = time.monotonic()
        self._saved = self.started

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def tick(self, every: float = 5.0) -> None:
        """Write the attempt's seconds so far, at most every `every` seconds."""
        now = time.monotonic()
        if now - self._saved >= every:
            with self.state._lock:
                self.attempt["seconds"] = round(self.elapsed, 2)
                self.state.save()
            self._saved = now

    def stop(self, outcome: str) -> None:
        self.attempt["seconds"] = round(self.elapsed, 2)
        self.attempt["outcome"] = outcome
        self.attempt["ended"] = now_iso()
