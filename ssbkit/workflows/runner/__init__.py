"""The workflow runner: YAML batch specs, a resumable SQLite results store, and executors.

    from ssbkit.workflows.runner import load_spec, run_spec, spec_status, spec_results
    spec = load_spec("batch.yaml")
    summary = run_spec(spec, executor="pool", workers=4)
    records = spec_results(spec)       # one TaskRecord per task, in spec order

Task kinds live in ``ssbkit.workflows.kinds``; the runner itself knows nothing of physics.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

from ssbkit.errors import InputError
from ssbkit.io import atomic_write, csv_text
from ssbkit.results import Result
from ssbkit.workflows.runner.executors import (
    EXECUTORS,
    WorkerSettings,
    default_batch_size,
    make_groups,
    run_groups,
    slurm_array_script,
    visible_gpus,
)
from ssbkit.workflows.runner.spec import Spec, Task, load_spec, task_key
from ssbkit.workflows.runner.store import STATES, RunStore, TaskRecord, check_store, export_store


@dataclass
class RunSummary(Result):
    """Outcome of one ``run_spec`` call over the selected tasks: counts per state and wall time (s)."""

    spec: str
    run_dir: str
    executor: str
    tasks: int
    done: int
    failed: int
    pending: int
    running: int
    seconds: float
    failures: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class StatusSummary(Result):
    """Counts per state for a spec, and one row per task (index, key, kind, labels, state, failures, s)."""

    spec: str
    run_dir: str
    counts: dict[str, int]
    tasks: list[dict[str, Any]]


def _select(spec: Spec, task_index: int | None) -> list[Task]:
    if task_index is None:
        return spec.tasks
    if not 0 <= task_index < len(spec.tasks):
        raise InputError(f"task index {task_index} out of range: the spec has {len(spec.tasks)} tasks "
                         f"(0..{len(spec.tasks) - 1})")
    return [spec.tasks[task_index]]


def _store(spec: Spec) -> RunStore:
    store = RunStore(spec.store_path, journal_mode=spec.journal_mode)
    store.register(spec.tasks)
    return store


def run_spec(spec: Spec, executor: str = "local", workers: int = 1, retries: int | None = None,
             task_index: int | None = None, batch_size: int | None = None, progress: bool | None = None,
             devices: tuple[str, ...] | None = None) -> RunSummary:
    """Run the spec's unfinished tasks (or only task ``task_index``); finished tasks are never redone.

    ``retries``: failed attempts allowed per task beyond the first, counted over all runs of the store.
    ``devices``: GPUs to spread over pool/LocalCluster workers, one per worker (default: all visible
    GPUs; workers of a Slurm-backed Dask cluster get theirs from Slurm).
    ``progress``: show a progress bar (default: when stderr is a terminal).
    """
    if executor not in EXECUTORS:
        raise InputError(f"unknown executor {executor!r}; choose from {', '.join(EXECUTORS)}")
    if workers < 1:
        raise InputError(f"workers must be at least 1, got {workers}")
    retries = spec.retries if retries is None else retries
    if retries < 0:
        raise InputError(f"retries must be >= 0, got {retries}")
    start = time.perf_counter()
    selected = _select(spec, task_index)
    store = _store(spec)
    states = store.states([t.key for t in selected])
    todo = [t for t in selected if states[t.key] != "done"]
    if devices is None:  # GPUs of this host, for workers on this host (pool, Dask LocalCluster) only
        local_workers = executor == "pool" or (executor == "dask" and not spec.dask.get("address")
                                               and spec.dask.get("cluster", "local") == "local")
        devices = visible_gpus() if local_workers and workers > 1 and spec.device != "cpu" else ()
    settings = WorkerSettings(run_dir=str(spec.run_dir), spec_dir=str(spec.path.parent), device=spec.device,
                              retries=retries, lease_s=spec.lease_s, journal_mode=spec.journal_mode, executor=executor,
                              devices=tuple(devices), trust_model=spec.trust_model)
    groups = make_groups(todo, batch_size or spec.batch_size or default_batch_size(spec.device), workers)
    from tqdm import tqdm

    show = sys.stderr.isatty() if progress is None else progress
    with tqdm(total=len(todo), disable=not show or not todo, unit="task", desc=spec.name) as bar:
        def on_done(group_states: dict[str, str]) -> None:
            bar.update(len(group_states))
            failed = sum(state == "failed" for state in group_states.values())
            if failed:
                bar.set_postfix_str(f"{failed} failed", refresh=False)

        run_groups(groups, settings, workers, on_done, spec.dask)
    records = store.records([t.key for t in selected])
    store.close()
    counts = {state: sum(r.state == state for r in records) for state in STATES}
    index = {t.key: t.index for t in selected}
    failures = [{"index": index[r.key], "key": r.key, "labels": r.labels, "error": r.error}
                for r in records if r.state == "failed"]
    return RunSummary(spec=str(spec.path), run_dir=str(spec.run_dir), executor=executor, tasks=len(selected),
                      seconds=time.perf_counter() - start, failures=failures, **counts)


def spec_results(spec: Spec) -> list[TaskRecord]:
    """The store's record of every task of the spec, in spec order (unstarted tasks are 'pending')."""
    store = _store(spec)
    try:
        return store.records([t.key for t in spec.tasks])
    finally:
        store.close()


def spec_status(spec: Spec) -> StatusSummary:
    """Counts per state and a row per task."""
    records = spec_results(spec)
    rows = [{"index": t.index, "key": r.key, "kind": r.kind, "model": r.model, "labels": r.labels,
             "state": r.state, "failures": r.failures, "seconds": r.seconds, "error": r.error}
            for t, r in zip(spec.tasks, records)]
    counts = {state: sum(r["state"] == state for r in rows) for state in STATES}
    return StatusSummary(spec=str(spec.path), run_dir=str(spec.run_dir), counts=counts, tasks=rows)


def results_table(spec: Spec) -> tuple[list[str], list[list[Any]]]:
    """Flat rows for CSV: index, key, kind, model, state, labels, scalar result fields, seconds, error."""
    records = spec_results(spec)
    label_names = list(dict.fromkeys(name for r in records for name in r.labels))
    result_names = list(dict.fromkeys(
        name for r in records for name, value in (r.result or {}).items()
        if isinstance(value, (int, float, str, bool)) or value is None))
    columns = ["index", "key", "kind", "model", "state", *label_names,
               *(f"result_{n}" if n in label_names else n for n in result_names), "seconds", "error"]
    rows = [[t.index, r.key, r.kind, r.model, r.state, *(r.labels.get(n) for n in label_names),
             *((r.result or {}).get(n) for n in result_names), r.seconds, r.error]
            for t, r in zip(spec.tasks, records)]
    return columns, rows


def results_csv(spec: Spec) -> str:
    """The results table as CSV text."""
    return csv_text(*results_table(spec))


def write_slurm_script(spec: Spec, retries: int | None = None) -> tuple[str, int]:
    """Write ``RUN_DIR/submit.sbatch`` for the unfinished tasks; returns its path and the array length."""
    store = _store(spec)
    states = store.states([t.key for t in spec.tasks])
    store.close()
    indices = [t.index for t in spec.tasks if states[t.key] != "done"]
    script = slurm_array_script(spec, indices, spec.retries if retries is None else retries)
    (spec.run_dir / "slurm").mkdir(parents=True, exist_ok=True)
    path = atomic_write(spec.run_dir / "submit.sbatch", script)
    return str(path), len(indices)


__all__ = ["RunStore", "RunSummary", "Spec", "StatusSummary", "Task", "TaskRecord", "check_store", "export_store",
           "load_spec",
           "results_csv", "results_table", "run_spec", "spec_results", "spec_status", "task_key",
           "write_slurm_script"]
