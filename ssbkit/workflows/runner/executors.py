"""Executors: run groups of tasks in this process, a process pool, on Dask, or as a Slurm array.

Every executor calls the same ``execute_group`` in its worker; workers talk to each other only
through the store (claims, leases, results), so any mix of them may work on one spec at once.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import platform
import shlex
import socket
import sys
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ase.calculators.calculator import Calculator

from ssbkit import __version__
from ssbkit.errors import InputError, SsbkitError
from ssbkit.results import Result, jsonable
from ssbkit.workflows.runner.spec import Spec, Task, contained_path
from ssbkit.workflows.runner.store import RunStore, worker_id
from ssbkit.workflows.kinds import TaskContext, get_kind, load_model, model_version, run_lockstep

EXECUTORS = ("local", "pool", "dask")


@dataclass(frozen=True)
class WorkerSettings:
    """What a worker needs besides its tasks (plain values: it travels to other processes and hosts)."""

    run_dir: str
    spec_dir: str = "."
    device: str = "auto"
    retries: int = 0
    lease_s: float = 300.0
    journal_mode: str = "wal"
    executor: str = "local"
    devices: tuple[str, ...] = ()  # GPUs to spread over workers, one per worker; empty: leave as is
    trust_model: bool = False  # the spec's explicit trust in its mace:PATH model files

    @property
    def store_path(self) -> Path:
        return Path(self.run_dir) / "store.sqlite"


# --- one worker -------------------------------------------------------------------------------------


@cache
def _store(path: str, journal_mode: str, thread: int) -> RunStore:
    """This thread's connection to the store (SQLite connections stay in the thread that made them)."""
    return RunStore(path, journal_mode=journal_mode)


class ModelCache:
    """A worker process's loaded models: one calculator per (model, device, task precision, trust), loaded on
    first use and reused by every later task; beyond ``size`` models the least recently used one is dropped.
    ``loads`` counts the models loaded."""

    def __init__(self, size: int = 2) -> None:
        if size < 1:
            raise InputError(f"a model cache holds at least one model, not {size}")
        self.size = size
        self.loads = 0
        self._calculators: OrderedDict[tuple[str, str, str, bool], Calculator] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, model: str, device: str, task: str, trust_model: bool) -> Calculator:
        """The calculator of ``model`` on ``device`` (``task`` picks its precision, see ``kinds.load_model``)."""
        key = (model, device, task, trust_model)
        with self._lock:
            if key in self._calculators:
                self._calculators.move_to_end(key)
                return self._calculators[key]
            calculator = load_model(model, device=device, task=task, trust_model=trust_model)
            self.loads += 1
            self._calculators[key] = calculator
            while len(self._calculators) > self.size:
                self._calculators.popitem(last=False)
            return calculator


#: This process's models, kept between tasks and groups (a pool or Dask worker runs many groups).
MODELS = ModelCache()


def pin_device(devices: Sequence[str], worker_number: int) -> None:
    """Make one GPU visible to this worker process (before any CUDA use): CUDA_VISIBLE_DEVICES."""
    if devices:
        os.environ["CUDA_VISIBLE_DEVICES"] = devices[worker_number % len(devices)]


def _pin_dask_worker(devices: Sequence[str]) -> None:
    if not devices or os.environ.get("SSBKIT_DEVICE_PINNED"):
        return
    from distributed import get_worker

    name = get_worker().name
    pin_device(devices, name if isinstance(name, int) else abs(hash(name)))
    os.environ["SSBKIT_DEVICE_PINNED"] = "1"


def _device_description(device: str) -> str:
    torch = sys.modules.get("torch")
    if torch is not None and device != "cpu" and torch.cuda.is_available():
        index = torch.cuda.current_device()
        return f"cuda:{index} {torch.cuda.get_device_name(index)}"
    return "cpu"


def _versions() -> dict[str, str]:
    names = ["ase", "numpy", "torch", "chgnet", "sevenn", "mace", "pymatgen"]
    versions = {"ssbkit": __version__, "python": platform.python_version()}
    for name in names:
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "__version__"):
            versions[name] = str(module.__version__)
    return versions


@contextlib.contextmanager
def _heartbeat(settings: WorkerSettings, keys: list[str], holder: str) -> Iterator[None]:
    """Renew the leases on ``keys`` every third of the lease while the body runs."""
    stop = threading.Event()

    def beat() -> None:
        store = RunStore(settings.store_path, journal_mode=settings.journal_mode)
        try:
            while not stop.wait(settings.lease_s / 3):
                store.renew(keys, holder, settings.lease_s)
        finally:
            store.close()

    thread = threading.Thread(target=beat, name="ssbkit-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _task_context(task: Task, run_dir: Path, spec_dir: Path) -> TaskContext:
    contained_path(run_dir / "tasks" / task.key, (run_dir,), f"task {task.index}: output directory")
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    (run_dir / "trajectories").mkdir(parents=True, exist_ok=True)
    log = logging.getLogger(f"ssbkit.task.{task.key}")
    log.setLevel(logging.INFO)
    log.propagate = False
    if not log.handlers:
        handler = logging.FileHandler(run_dir / "logs" / f"{task.key}.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
    return TaskContext(directory=run_dir, log=log, trajectory=run_dir / "trajectories" / f"{task.key}.traj",
                       spec_dir=spec_dir, output_dir=run_dir / "tasks" / task.key)


def _close_log(context: TaskContext) -> None:
    for handler in list(context.log.handlers):
        handler.close()
        context.log.removeHandler(handler)


@contextlib.contextmanager
def _output_to(path: Path) -> Iterator[None]:
    """Send what libraries print (stdout, stderr) to a log file, keeping the terminal/JSON stream clean."""
    with open(path, "a") as stream, contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
        yield


def _timed(function: Callable[[Calculator | None], Any]) -> Callable[[Calculator | None], tuple[Any, float]]:
    def run(calculator: Calculator | None) -> tuple[Any, float]:
        start = time.perf_counter()
        return function(calculator), time.perf_counter() - start

    return run


def _run_claimed(tasks: list[Task], settings: WorkerSettings,
                 contexts: list[TaskContext]) -> tuple[list[Any], int | None]:
    """Run claimed tasks of one kind and model; each outcome is (result, seconds) or an exception.

    Also returns the number of batched model calls made (None when the tasks ran one by one).
    The process's calculator is reset before every task (and before a lockstep group): a task that
    failed inside it (EMT on an element it lacks, say) must not leave it half set up for the next
    task or for the task's retry, which would then fail with a different, misleading error.
    """
    kind = get_kind(tasks[0].kind)
    calculator = (MODELS.get(tasks[0].model, settings.device, kind.model_task, settings.trust_model)
                  if kind.needs_model else None)
    jobs = [_timed(lambda calc, t=t, c=c: kind.function(t.inputs, t.parameters, calc, c))
            for t, c in zip(tasks, contexts)]
    if kind.batchable and calculator is not None and len(tasks) > 1:
        calculator.reset()
        return run_lockstep(jobs, calculator)
    outcomes = []
    for job in jobs:
        if calculator is not None:
            calculator.reset()
        try:
            outcomes.append(job(calculator))
        except Exception as exc:
            outcomes.append(exc)
    return outcomes, None


def _relative(path: Path, run_dir: Path) -> str | None:
    return str(path.relative_to(run_dir)) if path.exists() else None


def execute_group(tasks: Sequence[Task], settings: WorkerSettings) -> dict[str, str]:
    """Claim, run and record tasks of one kind and model (batched when the kind allows).

    Retries failed tasks while the store allows; returns key -> state for every task of the group
    (tasks done or held by others are skipped and reported with their current state).
    """
    if settings.executor == "dask":
        _pin_dask_worker(settings.devices)
    run_dir = Path(settings.run_dir)
    store = _store(str(settings.store_path), settings.journal_mode, threading.get_ident())
    holder = worker_id()
    remaining = list(tasks)
    while remaining:
        claimed = [t for t in remaining if store.claim(t.key, holder, settings.lease_s, settings.retries)]
        if not claimed:
            break
        contexts = [_task_context(t, run_dir, Path(settings.spec_dir)) for t in claimed]
        for task, context in zip(claimed, contexts):
            context.log.info("task %d (%s, %s) claimed by %s; labels %s", task.index, task.kind, task.model,
                             holder, task.labels)
        output = run_dir / "logs" / f"{claimed[0].key}.log"
        started = time.time()
        with _heartbeat(settings, [t.key for t in claimed], holder), _output_to(output):
            try:
                outcomes, model_calls = _run_claimed(claimed, settings, contexts)
            except Exception as exc:  # the model failed to load: every task of the group fails with it
                outcomes, model_calls = [exc] * len(claimed), None
        device = _device_description(settings.device) if claimed[0].model else "none"
        remaining = []
        for task, context, outcome in zip(claimed, contexts, outcomes):
            provenance = {
                "worker": holder, "host": socket.gethostname(), "executor": settings.executor,
                "device": device, "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
                "model": task.model, "model_version": model_version(task.model) if task.model else None,
                "batch_size": len(claimed), "batched_model_calls": model_calls, "started": started,
                "versions": _versions(), "output_dir": _relative(context.output_dir, run_dir),
            }
            log_path = _relative(run_dir / "logs" / f"{task.key}.log", run_dir)
            if not isinstance(outcome, Exception):
                result, seconds = outcome
                try:
                    document = result.to_dict() if isinstance(result, Result) else jsonable(result)
                    store.finish(task.key, holder, document, provenance, seconds, log_path,
                                 _relative(context.trajectory, run_dir))
                    context.log.info("done in %.3f s", seconds)
                except (TypeError, ValueError) as exc:  # a result that cannot be stored as JSON
                    outcome = exc
            if isinstance(outcome, Exception):
                text = "".join(traceback.format_exception(outcome))
                context.log.error("failed: %s\n%s", outcome, text)
                store.fail(task.key, holder, f"{type(outcome).__name__}: {outcome}", text, provenance,
                           time.time() - started, log_path)
                remaining.append(task)
            _close_log(context)
    return store.states([t.key for t in tasks])


# --- grouping and executors ---------------------------------------------------------------------------


def make_groups(tasks: Sequence[Task], batch_size: int, workers: int) -> list[list[Task]]:
    """Groups of same kind and model, at most ``batch_size`` long (batchable kinds) and enough for the workers."""
    by_kind: dict[tuple[str, str | None], list[Task]] = {}
    for task in tasks:
        by_kind.setdefault((task.kind, task.model), []).append(task)
    groups = []
    for (kind_name, _), members in by_kind.items():
        if not get_kind(kind_name).batchable:
            groups.extend([t] for t in members)
            continue
        size = max(1, min(batch_size, math.ceil(len(members) / max(workers, 1))))
        groups.extend(members[i:i + size] for i in range(0, len(members), size))
    return groups


def default_batch_size(device: str) -> int:
    """32 same-kind tasks per batched model call on a GPU; 1 on CPU, where batching gains little."""
    if device == "cpu":
        return 1
    return 32 if device.startswith("cuda") or visible_gpus() else 1


def visible_gpus() -> tuple[str, ...]:
    """GPU ids visible to this process: CUDA_VISIBLE_DEVICES, else the NVIDIA driver's list (no torch import)."""
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        return tuple(d.strip() for d in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if d.strip())
    driver = Path("/proc/driver/nvidia/gpus")
    return tuple(str(i) for i in range(len(list(driver.iterdir())))) if driver.is_dir() else ()


def _forkserver() -> Any:
    """Process start method for workers: a fresh server process imports the runner once and forks
    them, cheaper than spawn and safe with CUDA (forking a parent that has touched CUDA is not)."""
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["ssbkit.workflows.runner.executors"])
    return context


PARENT_CHECK_S = 1.0  # how often a pool worker checks that the process that started the run is alive


def _die_with_parent(parent_pid: int) -> None:
    """End this worker when the run's process dies, even by SIGKILL: the kernel sends SIGKILL when the
    parent (the forkserver, which exits with the run) goes (Linux prctl PR_SET_PDEATHSIG), and a
    watchdog thread checks the run's pid (every platform)."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        pr_set_pdeathsig = 1
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)

    def watch() -> None:
        while True:
            time.sleep(PARENT_CHECK_S)
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:
                continue

    threading.Thread(target=watch, name="ssbkit-parent-watchdog", daemon=True).start()


def _init_pool_worker(numbers: Any, devices: tuple[str, ...], parent_pid: int) -> None:
    _die_with_parent(parent_pid)
    pin_device(devices, numbers.get())


def _collect(future: Any, on_done: Callable[[dict[str, str]], None]) -> None:
    """Hand a finished group to ``on_done``; a lost worker leaves its tasks to the next run, not a crash."""
    try:
        on_done(future.result())
    except SsbkitError:  # a damaged store, say: every worker would meet it
        raise
    except Exception as exc:  # the worker process died: its claims lapse (dead pid / expired lease)
        logging.getLogger("ssbkit.runner").warning("a worker was lost (%s); rerun to finish its tasks", exc)
        on_done({})


def run_groups(groups: list[list[Task]], settings: WorkerSettings, workers: int,
               on_done: Callable[[dict[str, str]], None], dask_options: dict[str, Any] | None = None) -> None:
    """Run groups with the executor named in ``settings``; ``on_done`` gets each group's key -> state."""
    if settings.executor == "local":
        for group in groups:
            on_done(execute_group(group, settings))
    elif settings.executor == "pool":
        from concurrent.futures import ProcessPoolExecutor, as_completed

        context = _forkserver()
        numbers = context.Queue()
        for number in range(workers):
            numbers.put(number)
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_pool_worker,
                                 initargs=(numbers, settings.devices, os.getpid())) as pool:
            for future in as_completed([pool.submit(execute_group, g, settings) for g in groups]):
                _collect(future, on_done)
    elif settings.executor == "dask":
        from distributed import as_completed

        with dask_client(dask_options or {}, workers) as client:
            futures = [client.submit(execute_group, g, settings, pure=False) for g in groups]
            for future in as_completed(futures):
                _collect(future, on_done)
    else:
        raise InputError(f"unknown executor {settings.executor!r}; choose from {', '.join(EXECUTORS)}")


# --- Dask ----------------------------------------------------------------------------------------------

SLURM_CLUSTER_KEYS = {"queue", "account", "memory", "walltime", "job_extra_directives", "job_script_prologue",
                      "local_directory", "log_directory", "interface", "job_name"}


def slurm_cluster_kwargs(section: dict[str, Any]) -> dict[str, Any]:
    """dask_jobqueue.SLURMCluster arguments from a spec's ``dask:`` section (``cluster: slurm``).

    Each Slurm job runs one single-threaded Dask worker (one task group at a time, one GPU through
    ``gpus_per_job``) with ``cpus`` cores booked for the model's own threads; ``jobs`` (how many
    workers to start) is used by ``dask_client``. Other keys pass through to SLURMCluster.
    """
    allowed = SLURM_CLUSTER_KEYS | {"cluster", "jobs", "gpus_per_job", "cpus"}
    if unknown := set(section) - allowed:
        raise InputError(f"dask section: unknown keys {sorted(unknown)}; allowed {sorted(allowed)}")
    kwargs: dict[str, Any] = {"cores": 1, "processes": 1, "job_cpu": int(section.get("cpus", 1)),
                              "memory": "8GB", "walltime": "01:00:00", "job_name": "ssbkit"}
    kwargs |= {k: v for k, v in section.items() if k in SLURM_CLUSTER_KEYS}
    directives = list(kwargs.get("job_extra_directives", []))
    if gpus := section.get("gpus_per_job"):
        directives.append(f"--gres=gpu:{int(gpus)}")
    kwargs["job_extra_directives"] = directives
    return kwargs


@contextlib.contextmanager
def dask_client(section: dict[str, Any], workers: int) -> Iterator[Any]:
    """A Dask client: ``address`` (a running scheduler), ``cluster: slurm`` (dask-jobqueue), or a LocalCluster."""
    from distributed import Client, LocalCluster

    if section.get("address"):
        with Client(section["address"]) as client:
            yield client
        return
    cluster_type = section.get("cluster", "local")
    if cluster_type == "slurm":
        from dask_jobqueue import SLURMCluster

        cluster = SLURMCluster(**slurm_cluster_kwargs(section))
        cluster.scale(jobs=int(section.get("jobs", workers)))
    elif cluster_type == "local":
        if unknown := set(section) - {"cluster"}:
            raise InputError(f"dask section: {sorted(unknown)} need cluster: slurm (a LocalCluster takes --workers)")
        import dask

        _forkserver()
        with dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"}):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    else:
        raise InputError(f"dask cluster {cluster_type!r} unknown; use local, slurm, or give an address")
    with cluster, Client(cluster) as client:
        yield client


# --- Slurm arrays --------------------------------------------------------------------------------------

SLURM_KEYS = {"partition", "time", "cpus_per_task", "mem", "gpus", "account", "qos", "max_parallel",
              "directives", "setup"}


def _index_ranges(indices: Sequence[int]) -> str:
    """0,1,2,5,7,8 -> '0-2,5,7-8' (Slurm's --array syntax)."""
    parts: list[str] = []
    for index in sorted(indices):
        if parts and parts[-1][1] == index - 1:
            parts[-1] = (parts[-1][0], index)
        else:
            parts.append((index, index))
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in parts)


def slurm_array_script(spec: Spec, indices: Sequence[int], retries: int, python: str = sys.executable) -> str:
    """An sbatch script whose array element i runs ``ssbkit run SPEC --task-index i``."""
    section = spec.slurm
    if unknown := set(section) - SLURM_KEYS:
        raise InputError(f"slurm section: unknown keys {sorted(unknown)}; allowed {sorted(SLURM_KEYS)}")
    if not indices:
        raise InputError("nothing to submit: every task of the spec is done")
    array = _index_ranges(indices) + (f"%{int(section['max_parallel'])}" if "max_parallel" in section else "")
    lines = ["#!/bin/bash", f"#SBATCH --job-name=ssbkit-{spec.name}", f"#SBATCH --array={array}",
             f"#SBATCH --output={spec.run_dir}/slurm/%A_%a.out"]
    for key, flag in [("partition", "partition"), ("time", "time"), ("cpus_per_task", "cpus-per-task"),
                      ("mem", "mem"), ("account", "account"), ("qos", "qos")]:
        if key in section:
            lines.append(f"#SBATCH --{flag}={section[key]}")
    if section.get("gpus"):
        lines.append(f"#SBATCH --gres=gpu:{int(section['gpus'])}")
    lines += [f"#SBATCH {directive}" for directive in section.get("directives", [])]
    lines += ["", "set -euo pipefail"] + list(section.get("setup", []))
    command = [python, "-m", "ssbkit", "run", str(spec.path), "--task-index", "$SLURM_ARRAY_TASK_ID",
               "--retries", str(retries)]
    lines.append(" ".join(shlex.quote(part) if not part.startswith("$") else f'"{part}"' for part in command))
    return "\n".join(lines) + "\n"
