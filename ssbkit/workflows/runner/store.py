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

A damaged file (bytes overwritten on disk, a torn copy) raises DataError wherever the store is read;
``check_store`` lists what is wrong and ``export_store`` saves every row that can still be read.
"""

from __future__ import annotations

import functools
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
from ssbkit.io import atomic_write

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
JSON_COLUMNS = ("labels", "result", "provenance")


def _damaged(path: Path, exc: Exception) -> DataError:
    """The DataError for a store SQLite (or its JSON columns) cannot read."""
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return DataError(f"results store {path} is locked by another process ({exc}); try again later")
    return DataError(f"results store {path} is damaged ({exc}); run 'ssbkit status SPEC --check'")


def _guarded(method: Any) -> Any:
    """Turn SQLite corruption errors and undecodable JSON columns into DataError (one line, no traceback)."""

    @functools.wraps(method)
    def wrapper(self: RunStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.DatabaseError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise _damaged(self.path, exc) from exc

    return wrapper


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


COLUMNS = tuple(TaskRecord.__dataclass_fields__)  # the tasks table's columns a record holds, in its order


CREATION_GRACE_S = 5.0  # a new store is a 0-byte file for the moment between its creation and first write


def _empty_file(path: Path) -> bool:
    """Whether ``path`` is a 0-byte file that is not a store being created by another process right now
    (one younger than CREATION_GRACE_S is given that long to get its header)."""
    while True:
        try:
            status = path.stat()
        except FileNotFoundError:
            return False
        if status.st_size > 0 or not path.is_file():
            return False
        age = time.time() - status.st_mtime
        if age > CREATION_GRACE_S:
            return True
        time.sleep(min(0.1, CREATION_GRACE_S - age + 0.01))


class RunStore:
    """SQLite results store. Open one per process (connections are not shared between processes)."""

    def __init__(self, path: str | Path, busy_timeout_s: float = 120.0, journal_mode: str = "wal"):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if _empty_file(self.path):
            raise DataError(f"results store {self.path} is an empty (0-byte) file, not a store; its results are "
                            "lost. To start over, delete it (rerunning the spec creates a new store)")
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
            raise _damaged(self.path, exc) from exc

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

    @_guarded
    def register(self, tasks: Iterable[Any]) -> None:
        """Add tasks (objects with key, kind, model, labels) as pending unless already known."""
        rows = [(t.key, t.kind, t.model, json.dumps(t.labels)) for t in tasks]
        with self._transaction() as db:
            db.executemany("INSERT OR IGNORE INTO tasks (key, kind, model, labels) VALUES (?, ?, ?, ?)", rows)

    @_guarded
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

    @_guarded
    def renew(self, keys: Iterable[str], holder: str, lease_s: float) -> None:
        """Extend the leases of the running tasks ``holder`` holds (the heartbeat)."""
        keys = list(keys)
        if not keys:
            return
        with self._transaction() as db:
            db.executemany("UPDATE tasks SET lease_until = ? WHERE key = ? AND worker = ? AND state = 'running'",
                           [(time.time() + lease_s, key, holder) for key in keys])

    @_guarded
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

    @_guarded
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

    @_guarded
    def records(self, keys: Iterable[str] | None = None) -> list[TaskRecord]:
        """Rows for ``keys`` (in that order, unknown keys skipped) or all rows."""
        rows = self._db.execute(f"SELECT {', '.join(COLUMNS)} FROM tasks").fetchall()
        by_key = {row[0]: row for row in rows}
        order = list(keys) if keys is not None else list(by_key)
        return [TaskRecord(**_decoded(by_key[key])) for key in order if key in by_key]

    @_guarded
    def states(self, keys: Iterable[str] | None = None) -> dict[str, str]:
        """key -> state, for ``keys`` or all tasks."""
        rows = dict(self._db.execute("SELECT key, state FROM tasks").fetchall())
        return rows if keys is None else {k: rows.get(k, "pending") for k in keys}

    def integrity_ok(self) -> bool:
        """SQLite's own consistency check of the file."""
        return self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _decoded(row: tuple) -> dict[str, Any]:
    """A row of COLUMNS as a dict with the JSON columns decoded (JSONDecodeError on garbage)."""
    values = dict(zip(COLUMNS, row))
    for name in JSON_COLUMNS:
        values[name] = json.loads(values[name]) if values[name] is not None else None
    return values


# --- damaged stores: diagnosis and rescue -----------------------------------------------------------------


def _open_existing(path: Path) -> sqlite3.Connection:
    """A connection to an existing store that changes nothing on open (no schema, no journal-mode switch)."""
    if not path.is_file():
        raise DataError(f"results store {path} not found; nothing has run yet")
    if path.stat().st_size == 0:
        raise DataError(f"results store {path} is an empty (0-byte) file; delete it to start over")
    return sqlite3.connect(path, timeout=30.0, isolation_level=None)


def _rowids(db: sqlite3.Connection) -> list[int]:
    """Every rowid of the tasks table that any readable b-tree (the table or its indexes) knows of,
    plus the gaps up to the largest one (rows whose index entries sit on a damaged page)."""
    found: set[int] = set()
    for query in ("SELECT rowid FROM tasks", "SELECT rowid FROM tasks INDEXED BY tasks_state",
                  "SELECT rowid FROM tasks INDEXED BY sqlite_autoindex_tasks_1 WHERE key IS NOT NULL"):
        try:
            found.update(rowid for (rowid,) in db.execute(query))
        except sqlite3.DatabaseError:  # that b-tree is damaged: the others may still list the rows
            continue
    return list(range(1, max(found) + 1)) if found else []


def _readable_rows(db: sqlite3.Connection) -> tuple[list[tuple[int, dict[str, Any]]], list[str]]:
    """(rowid, decoded row) for every row that reads and decodes; problems for those that do not."""
    rows, problems = [], []
    for rowid in _rowids(db):
        try:
            row = db.execute(f"SELECT {', '.join(COLUMNS)} FROM tasks WHERE rowid = ?", (rowid,)).fetchone()
        except sqlite3.DatabaseError as exc:
            problems.append(f"row {rowid}: unreadable ({exc})")
            continue
        if row is None:
            continue
        try:
            rows.append((rowid, _decoded(row)))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            problems.append(f"row {rowid} (task {row[0]!r}): a JSON column does not parse ({exc})")
    return rows, problems


def _row_problems(rowid: int, row: dict[str, Any]) -> list[str]:
    """The store's own rules for one row."""
    where = f"row {rowid} (task {row['key']!r})"
    problems = []
    if not isinstance(row["key"], str) or not row["key"]:
        problems.append(f"row {rowid}: no task key")
    if row["state"] not in STATES:
        problems.append(f"{where}: invalid state {row['state']!r}")
    if not isinstance(row["labels"], dict):
        problems.append(f"{where}: labels are not a JSON object")
    if row["state"] == "done" and not isinstance(row["result"], dict):
        problems.append(f"{where}: done without a result")
    if row["state"] == "failed" and not row["error"]:
        problems.append(f"{where}: failed without an error message")
    if row["state"] == "running" and not row["worker"]:
        problems.append(f"{where}: running without a worker")
    return problems


def check_store(path: str | Path) -> list[str]:
    """What is wrong with a results store: SQLite's integrity check, then every row read one by one
    (unreadable rows, JSON columns that do not parse, invalid states, done tasks without a result,
    duplicate keys). An empty list means healthy."""
    path = Path(path)
    db = _open_existing(path)
    problems: list[str] = []
    try:
        try:
            problems += [f"sqlite: {message}" for (message,) in db.execute("PRAGMA integrity_check")
                         if message != "ok"]
        except sqlite3.DatabaseError as exc:  # too damaged for the check to finish: read the rows anyway
            problems.append(f"sqlite: {exc}")
        try:
            tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            return [*problems, f"cannot read the schema: {exc}"]
        if "tasks" not in tables:
            return [*problems, "no tasks table: not an ssbkit results store"]
        rows, row_problems = _readable_rows(db)
        problems += row_problems
        seen: dict[str, int] = {}
        for rowid, row in rows:
            problems += _row_problems(rowid, row)
            if row["key"] in seen:
                problems.append(f"row {rowid}: task key {row['key']!r} repeats row {seen[row['key']]}")
            seen.setdefault(row["key"], rowid)
    finally:
        db.close()
    return problems


def export_store(path: str | Path, destination: str | Path) -> tuple[int, list[str]]:
    """Write every intact row of a (possibly damaged) store to ``destination`` as JSON lines (one task
    per line, the columns of TaskRecord with JSON columns decoded); returns (rows written, rows skipped
    with the reason). Reads row by row, so one damaged page loses only the rows on it."""
    db = _open_existing(Path(path))
    try:
        try:
            rows, skipped = _readable_rows(db)
        except sqlite3.DatabaseError as exc:
            raise _damaged(Path(path), exc) from exc
    finally:
        db.close()
    intact = []
    for rowid, row in rows:
        if problems := _row_problems(rowid, row):
            skipped += problems
        else:
            intact.append(row)
    atomic_write(destination, "".join(json.dumps(row) + "\n" for row in intact))
    return len(intact), skipped
