"""Runner store: claims and leases in SQLite, retry counts, resuming after SIGKILL, concurrent writers.

Physics reference: a stored energy is compared with ``ssbkit.workflows.relax.relax`` run directly on the same
structure with ASE's EMT (deterministic, so a result computed in another process agrees to 1e-9 eV).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from ase.calculators.emt import EMT
from typer.testing import CliRunner

from ssbkit.cli import app
from ssbkit.workflows.relax import relax
from ssbkit.workflows.runner import load_spec, run_spec, spec_results
from ssbkit.workflows.runner.store import RunStore

from runner_helpers import ENV, STRUCTURES, relaxation_spec, store_rows, wait_for_states, write_spec


@pytest.mark.parametrize("journal_mode", ["wal", "delete"])
def test_claims_respect_live_holders_and_take_over_dead_ones(tmp_path, journal_mode):
    """The claim rules: a live holder on this host or an unexpired lease elsewhere keeps its task;
    a dead process on this host or an expired lease elsewhere loses it; done is final."""
    import socket
    from types import SimpleNamespace

    store = RunStore(tmp_path / "store.sqlite", journal_mode=journal_mode)
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == journal_mode
    tasks = [SimpleNamespace(key=f"k{i}", kind="relax", model="emt", labels={}) for i in range(4)]
    store.register(tasks)
    store.register(tasks)  # registering again changes nothing
    me = f"{socket.gethostname()}:{os.getpid()}"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert store.claim("k0", me, lease_s=60, retries=0)
    assert not store.claim("k0", f"{socket.gethostname()}:1", lease_s=60, retries=0)  # live holder (me)
    assert store.claim("k1", f"{socket.gethostname()}:{dead.pid}", lease_s=60, retries=0)
    assert store.claim("k1", me, lease_s=60, retries=0)  # holder process is gone
    assert store.claim("k2", "elsewhere:7", lease_s=60, retries=0)
    assert not store.claim("k2", me, lease_s=60, retries=0)  # lease on another host still valid
    assert store.claim("k3", "elsewhere:8", lease_s=-1, retries=0)
    assert store.claim("k3", me, lease_s=60, retries=0)  # lease on another host expired
    assert not store.finish("k3", "elsewhere:8", {}, {}, 1.0, None, None)  # lost its claim: not written
    assert store.finish("k0", me, {"energy": -1.0}, {}, 1.0, None, None)
    assert not store.claim("k0", me, lease_s=60, retries=5)
    assert store.states() == {"k0": "done", "k1": "running", "k2": "running", "k3": "running"}


def test_failing_task_is_recorded_and_the_rest_finish(tmp_path):
    path = write_spec(tmp_path, STRUCTURES + """
tasks:
  - kind: window
    parameters: {source: experimental}
    product: {formula: [LiI, Xx2, LiCl]}
""")  # a valid spec whose second task fails when it runs (offline: experimental enthalpies ship with pymatgen)
    result = CliRunner().invoke(app, ["run", str(path), "--json", "--retries", "1"])
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert (summary["done"], summary["failed"]) == (2, 1)
    assert summary["failures"][0]["index"] == 1 and "unknown element(s) Xx" in summary["failures"][0]["error"]
    failed = spec_results(load_spec(path))[1]
    assert failed.failures == 2  # first attempt plus one retry
    assert "Traceback" in failed.traceback and "InputError" in failed.traceback
    # The store holds the retry count: without more retries a rerun leaves the task alone.
    assert run_spec(load_spec(path)).failed == 1
    assert spec_results(load_spec(path))[1].failures == 2


def test_resume_after_sigkill_loses_and_repeats_nothing(tmp_path):
    # Six relaxations of a fraction of a second each: the kill lands after two have finished.
    path = relaxation_spec(tmp_path, 6)
    process = subprocess.Popen([sys.executable, "-m", "ssbkit", "run", str(path)], env=ENV, cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # kill while a task is held
    wait_for_states(path, lambda states: states.count("done") >= 2 and "running" in states)
    process.send_signal(signal.SIGKILL)
    process.wait()
    at_kill = store_rows(path)
    finished = {k: v for k, v in at_kill.items() if v[0] == "done"}
    assert 2 <= len(finished) < 6, "the kill must land mid-batch"
    assert any(state == "running" for state, _, _ in at_kill.values())  # killed while holding a task

    summary = run_spec(load_spec(path))
    assert (summary.done, summary.failed) == (6, 0)
    after = store_rows(path)
    for key, row in finished.items():
        assert after[key] == row  # finished before the kill: untouched, not redone
    assert all(claims <= 2 for _, claims, _ in after.values())
    store = RunStore(load_spec(path).store_path)
    assert store.integrity_ok()
    records = {r.key: r for r in store.records()}
    spec = load_spec(path)
    resumed = next(t for t in spec.tasks if t.key not in finished)  # physics of a task run after the kill
    direct = relax(resumed.inputs["atoms"], EMT(), fmax=0.01)
    assert records[resumed.key].result["energy"] == pytest.approx(direct.energy, abs=1e-9)


def test_four_processes_share_one_store(tmp_path):
    path = relaxation_spec(tmp_path, 8)
    processes = [subprocess.Popen([sys.executable, "-m", "ssbkit", "run", str(path), "--json"], env=ENV,
                                  cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(4)]
    outputs = [p.communicate(timeout=300) for p in processes]
    assert [p.returncode for p in processes] == [0] * 4, [err.decode()[-2000:] for _, err in outputs]
    spec = load_spec(path)
    records = spec_results(spec)
    assert [r.state for r in records] == ["done"] * 8
    assert [r.claims for r in records] == [1] * 8  # no task ran twice
    assert len({r.provenance["worker"] for r in records}) >= 2  # the work really was shared
    assert RunStore(spec.store_path).integrity_ok()
    direct = relax(spec.tasks[-1].inputs["atoms"], EMT(), fmax=0.01)
    assert records[-1].result["energy"] == pytest.approx(direct.energy, abs=1e-9)
