"""The results store: one SQLite file (WAL mode) in the run directory, shared by every worker.

Each task row moves pending -> running -> done | failed. A worker *claims* a task in a short
``BEGIN IMMEDIATE`` transaction that succeeds only if the task is pending, failed with retries left,
or held by a dead worker (same host, process gone) or an expired lease (other hosts; leases are
renewed by a heartbeat while the task runs). A result is written in one transaction together with
its state, so a killed worker leaves either a finished task or one that will be claimed again.

SQLite's WAL mode needs the file on a local or POSIX-locking file system shared by processes of one
host. For Slurm arrays spread over several nodes, put ``store: {journal_mode: delete}`` in the spec
(rollback journal, which relies on the file system's POSIX locks: Lustre mounted with ``flock``,
GPFS, NFSv4 with working locking); never share one store over a file system without locks.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ssbkit.errors import DataError

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    model TEXT,
    labels TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'done', 'failed')),
    claims INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    worker TEXT,
    lease_until REAL,
    started REAL,
    finished REAL,
    seconds REAL,
    result TEXT,
    provenance TEXT,
    error TEXT,
    traceback TEXT,
    log_path TEXT,
    trajectory_path TEXT
);
CREATE INDEX IF NOT EXISTS tasks_state ON tasks(state);
"""

STATES = ("pending", "running", "done", "failed")


def worker_id() -> str:
    """This process as a lease holder: host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _holder_alive(holder: str | None, lease_until: float | None, now: float) -> bool:
    """Whether a running task's holder still counts: alive on this host, or an unexpired lease elsewhere."""
    if not holder:
        return False
    host, _, pid = holder.rpartition(":")
    if host == socket.gethostname():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return lease_until is not None and lease_until > now


@dataclass
class TaskRecord:
    """A task's row in the store (result and provenance decoded from JSON)."""

    key: str
    kind: str
    model: str | None
    labels: dict[str, Any]
    state: str
    claims: int
    failures: int
    worker: str | None
    started: float | None
    finished: float | None
    seconds: float | None
    result: dict[str, Any] | None
    provenance: dict[str, Any] | None
    error: str | None
    traceback: str | None
    log_path: str | None
    trajectory_path: str | None

    def structure(self, field: str = "atoms") -> Any:
        """A structure stored in the result (e.g. a relaxation's final ``atoms``) as ase.Atoms."""
        from ase.io.jsonio import decode

        if not self.result or field not in self.result:
            raise DataError(f"task {self.key} ({self.state}) has no structure {field!r} in its result")
        return decode(json.dumps(self.result[field]))


class RunStore:
    """SQLite results store. Open one per process (connections are not shared between processes)."""

    def __init__(self, path: str | Path, busy_timeout_s: float = 120.0, journal_mode: str = "wal"):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None)
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            self._db.execute(f"PRAGMA journal_mode = {journal_mode}")
            self._db.execute("PRAGMA synchronous = NORMAL")  # durable across process kills in WAL mode
            with self._transaction():
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
        except sqlite3.DatabaseError as exc:
            raise DataError(f"results store {self.path} is unusable: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A short write transaction that takes the write lock at once (no deadlocks between writers)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def register(self, tasks: Iterable[Any]) -> None:
        """Add tasks (objects with key, kind, model, labels) as pending unless already known."""
        rows = [(t.key, t.kind, t.model, json.dumps(t.labels)) for t in tasks]
        with self._transaction() as db:
            db.executemany("INSERT OR IGNORE INTO tasks (key, kind, model, labels) VALUES (?, ?, ?, ?)", rows)

    def claim(self, key: str, holder: str, lease_s: float, retries: int) -> bool:
        """Take a task for ``holder``; False if it is done, held by a live worker, or out of retries."""
        now = time.time()
        with self._transaction() as db:
            row = db.execute("SELECT state, worker, lease_until, failures FROM tasks WHERE key = ?", (key,)).fetchone()
            if row is None:
                raise DataError(f"task {key} is not registered in {self.path}")
            state, holder_now, lease_until, failures = row
            if state == "done" or (state == "failed" and failures > retries):
                return False
            if state == "running" and holder_now != holder and _holder_alive(holder_now, lease_until, now):
                return False
            db.execute("UPDATE tasks SET state = 'running', worker = ?, lease_until = ?, started = ?, "
                       "claims = claims + 1 WHERE key = ?", (holder, now + lease_s, now, key))
        return True

    def renew(self, keys: Iterable[str], holder: str, lease_s: float) -> None:
        """Extend the leases of the running tasks ``holder`` holds (the heartbeat)."""
        keys = list(keys)
        if not keys:
            return
        with self._transaction() as db:
            db.executemany("UPDATE tasks SET lease_until = ? WHERE key = ? AND worker = ? AND state = 'running'",
                           [(time.time() + lease_s, key, holder) for key in keys])

    def finish(self, key: str, holder: str, result: dict[str, Any], provenance: dict[str, Any],
               seconds: float, log_path: str | None, trajectory_path: str | None) -> bool:
        """Store a result; False (nothing written) if the task is no longer held by ``holder``."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE tasks SET state = 'done', finished = ?, seconds = ?, result = ?, provenance = ?, "
                "error = NULL, traceback = NULL, log_path = ?, trajectory_path = ?, lease_until = NULL "
                "WHERE key = ? AND worker = ? AND state = 'running'",
                (time.time(), seconds, json.dumps(result), json.dumps(provenance), log_path, trajectory_path,
                 key, holder))
            return cursor.rowcount == 1

    def fail(self, key: str, holder: str, error: str, traceback: str, provenance: dict[str, Any],
             seconds: float, log_path: str | None) -> bool:
        """Record a failure with its traceback; False if the task is no longer held by ``holder``."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE tasks SET state = 'failed', failures = failures + 1, finished = ?, seconds = ?, "
                "error = ?, traceback = ?, provenance = ?, log_path = ?, lease_until = NULL "
                "WHERE key = ? AND worker = ? AND state = 'running'",
                (time.time(), seconds, error, traceback, json.dumps(provenance), log_path, key, holder))
            return cursor.rowcount == 1

    def records(self, keys: Iterable[str] | None = None) -> list[TaskRecord]:
        """Rows for ``keys`` (in that order, unknown keys skipped) or all rows."""
        columns = [f.name for f in TaskRecord.__dataclass_fields__.values()]
        rows = self._db.execute(f"SELECT {', '.join(columns)} FROM tasks").fetchall()
        by_key = {row[0]: row for row in rows}
        order = list(keys) if keys is not None else list(by_key)
        records = []
        for key in order:
            if key not in by_key:
                continue
            values = dict(zip(columns, by_key[key]))
            for name in ("labels", "result", "provenance"):
                values[name] = json.loads(values[name]) if values[name] is not None else None
            records.append(TaskRecord(**values))
        return records

    def states(self, keys: Iterable[str] | None = None) -> dict[str, str]:
        """key -> state, for ``keys`` or all tasks."""
        rows = dict(self._db.execute("SELECT key, state FROM tasks").fetchall())
        return rows if keys is None else {k: rows.get(k, "pending") for k in keys}

    def integrity_ok(self) -> bool:
        """SQLite's own consistency check of the file."""
        return self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
