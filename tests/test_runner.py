"""Workflow runner: specs, keys, the SQLite store under kills and concurrent writers, executors.

Physics references: every stored energy is compared with ASE's own EMT evaluated directly, or with
``ssbkit.workflows.relax.relax`` run directly on the same structure; EMT is deterministic, so results
computed in another process or through batched calls must agree to float round-off (1e-9 eV).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import write
from typer.testing import CliRunner

from ssbkit.cli import app
from ssbkit.errors import InputError, SsbkitError
from ssbkit.workflows.relax import relax
from ssbkit.workflows.runner import load_spec, run_spec, spec_results, spec_status
from ssbkit.potentials.batching import run_lockstep
from ssbkit.workflows.runner.executors import slurm_cluster_kwargs
from ssbkit.workflows.runner.store import RunStore

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

STRUCTURES = """
structures:
  cu: {bulk: Cu, cubic: true, repeat: [2, 2, 2], rattle: 0.05, seed: 1}
  al: {bulk: Al, cubic: true, repeat: [2, 2, 2], rattle: 0.05, seed: 2}
"""


def rattled(symbol: str, seed: int, repeat: int = 2, stdev: float = 0.05):
    atoms = bulk(symbol, cubic=True).repeat(repeat)
    atoms.rattle(stdev=stdev, seed=seed)
    return atoms


def write_spec(directory: Path, body: str, name: str = "batch.yaml") -> Path:
    path = directory / name
    path.write_text("model: emt\n" + body)
    return path


def emt_energy(atoms) -> float:
    atoms = atoms.copy()
    atoms.calc = EMT()
    return atoms.get_potential_energy()


def store_rows(spec_path: Path) -> dict[str, tuple]:
    """key -> (state, claims, finished) read straight from the SQLite file."""
    store = spec_path.parent / "runs" / spec_path.stem / "store.sqlite"
    if not store.exists():
        return {}
    with closing(sqlite3.connect(store, timeout=30)) as db:
        try:
            return {k: (s, c, f) for k, s, c, f in db.execute("SELECT key, state, claims, finished FROM tasks")}
        except sqlite3.OperationalError:  # the runner has created the file but not yet the table
            return {}


# --- specs and keys ---------------------------------------------------------------------------------


def test_product_and_zip_expand_in_order(tmp_path):
    spec = load_spec(write_spec(tmp_path, STRUCTURES + """
tasks:
  - kind: relax
    parameters: {fmax: 0.1}
    product: {atoms: [cu, al], steps: [10, 20]}
  - kind: singlepoint
    zip: {atoms: [cu, al, "bulk:Ni"]}
"""))
    labels = [(t.kind, t.labels["atoms"], t.parameters.get("steps")) for t in spec.tasks]
    assert labels == [("relax", "cu", 10), ("relax", "cu", 20), ("relax", "al", 10), ("relax", "al", 20),
                      ("singlepoint", "cu", None), ("singlepoint", "al", None), ("singlepoint", "bulk:Ni", None)]
    assert [t.index for t in spec.tasks] == list(range(7))
    assert len({t.key for t in spec.tasks}) == 7
    assert spec.tasks[0].parameters == {"fmax": 0.1, "steps": 10}
    np.testing.assert_allclose(spec.tasks[0].inputs["atoms"].positions, rattled("Cu", 1).positions)


def test_keys_follow_content_not_spelling(tmp_path):
    cu = rattled("Cu", 1)
    write(tmp_path / "cu.extxyz", cu)
    noisy = cu.copy()
    noisy.positions += 1e-8  # float noise from a file round trip: below the 1e-4 Å rounding
    write(tmp_path / "noisy.extxyz", noisy)
    moved = cu.copy()
    moved.positions[0, 0] += 1e-3
    write(tmp_path / "moved.extxyz", moved)
    spec = load_spec(write_spec(tmp_path, STRUCTURES + """
tasks:
  - kind: relax
    product: {atoms: [cu, cu.extxyz, noisy.extxyz, moved.extxyz], fmax: [0.05, 0.050000000000001]}
  - kind: relax
    parameters: {fmax: 0.05}
    product: {atoms: [cu], model: [emt, chgnet]}
"""))
    # cu (built), cu.extxyz and noisy.extxyz are one structure, the two fmax values one number:
    # duplicates are dropped, leaving cu, moved, and cu with the other model (emt repeats the first).
    assert [t.labels["atoms"] for t in spec.tasks] == ["cu", "moved.extxyz", "cu"]
    assert spec.tasks[2].model == "chgnet" and spec.tasks[2].labels["model"] == "chgnet"
    assert "model" not in spec.tasks[2].parameters


@pytest.mark.parametrize("body, message", [
    ("tasks:\n  - kind: nope\n    inputs: {atoms: bulk:Cu}\n", "unknown task kind 'nope'"),
    ("tasks:\n  - kind: relax\n    zip: {atoms: [bulk:Cu, bulk:Al], fmax: [0.1]}\n", "equal lengths"),
    ("tasks:\n  - kind: relax\n    inputs: {atoms: missing.cif}\n", "missing.cif not found"),
    ("tasks:\n  - kind: relax\n    inputs: {atoms: bulk:Cu}\n    parameters: {temperature: 300}\n",
     "takes parameters"),
    ("tasks:\n  - kind: relax\n    inputs: {atoms: bulk:Xx}\n", "cannot build structure"),
    ("tasks:\n  - kind: relax\n    parameters: {fmax: 0.1}\n", "needs inputs ['atoms']"),
    ("tasks: 3\n", "needs a 'tasks' list"),
    ("batch_size: many\ntasks: []\n", "expected int"),
    ("store: {journal_mode: truncate}\ntasks: []\n", "journal_mode"),
    ("tasks:\n  - kind: relax\n    model: nomodel\n    inputs: {atoms: bulk:Cu}\n", "unknown model 'nomodel'"),
])
def test_bad_specs_are_named(tmp_path, body, message):
    with pytest.raises(SsbkitError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_spec(write_spec(tmp_path, body))


def test_cli_bad_spec_exits_2(tmp_path):
    path = write_spec(tmp_path, "tasks:\n  - kind: nope\n    inputs: {atoms: bulk:Cu}\n")
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 2
    assert "unknown task kind" in result.output
    result = CliRunner().invoke(app, ["run", str(path.with_name("absent.yaml"))])
    assert result.exit_code == 2


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


# --- running ------------------------------------------------------------------------------------------


def test_local_run_matches_direct_calculations_and_is_idempotent(tmp_path):
    path = write_spec(tmp_path, STRUCTURES + """
tasks:
  - kind: relax
    parameters: {fmax: 0.05}
    zip: {atoms: [cu, al]}
  - kind: singlepoint
    zip: {atoms: [cu, al]}
""")
    spec = load_spec(path)
    summary = run_spec(spec)
    assert (summary.done, summary.failed) == (4, 0)
    records = spec_results(spec)
    for record, symbol, seed in zip(records[:2], ["Cu", "Al"], [1, 2]):
        direct = relax(rattled(symbol, seed), EMT(), fmax=0.05)
        assert record.result["energy"] == pytest.approx(direct.energy, abs=1e-9)
        assert record.result["steps"] == direct.steps
        np.testing.assert_allclose(record.structure().positions, direct.atoms.positions, atol=1e-9)
        assert (spec.run_dir / record.trajectory_path).is_file()
        assert "done in" in (spec.run_dir / record.log_path).read_text()
        assert record.provenance["model"] == "emt" and record.provenance["versions"]["ase"]
    for record, symbol, seed in zip(records[2:], ["Cu", "Al"], [1, 2]):
        assert record.result["energy"] == pytest.approx(emt_energy(rattled(symbol, seed)), abs=1e-9)
    before = store_rows(path)
    again = run_spec(load_spec(path))
    assert again.done == 4
    assert store_rows(path) == before  # nothing claimed or rewritten the second time

    csv_text = CliRunner().invoke(app, ["results", str(path), "--csv"]).stdout
    assert csv_text.splitlines()[0].startswith("index,key,kind,model,state,atoms")
    document = json.loads(CliRunner().invoke(app, ["results", str(path), "--json"]).stdout)
    assert [d["state"] for d in document] == ["done"] * 4
    status = json.loads(CliRunner().invoke(app, ["status", str(path), "--json"]).stdout)
    assert status["counts"] == {"pending": 0, "running": 0, "done": 4, "failed": 0}


def test_failing_task_is_recorded_and_the_rest_finish(tmp_path):
    path = write_spec(tmp_path, STRUCTURES + """
tasks:
  - kind: relax
    product: {optimizer: [FIRE, NOPE, BFGS], atoms: [cu]}
""")
    result = CliRunner().invoke(app, ["run", str(path), "--json", "--retries", "1"])
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert (summary["done"], summary["failed"]) == (2, 1)
    assert summary["failures"][0]["index"] == 1 and "unknown optimizer" in summary["failures"][0]["error"]
    failed = spec_results(load_spec(path))[1]
    assert failed.failures == 2  # first attempt plus one retry
    assert "Traceback" in failed.traceback and "InputError" in failed.traceback
    # The store holds the retry count: without more retries a rerun leaves the task alone.
    assert run_spec(load_spec(path)).failed == 1
    assert spec_results(load_spec(path))[1].failures == 2


def test_resume_after_sigkill_loses_and_repeats_nothing(tmp_path):
    # Six relaxations of a fraction of a second each: the kill lands after two have finished.
    tasks = ", ".join(f"{{bulk: Cu, cubic: true, repeat: [2, 2, 2], rattle: 0.1, seed: {i}}}" for i in range(6))
    path = write_spec(tmp_path, f"""
batch_size: 1
tasks:
  - kind: relax
    parameters: {{fmax: 0.01}}
    product: {{atoms: [{tasks}]}}
""")
    process = subprocess.Popen([sys.executable, "-m", "ssbkit", "run", str(path)], env=ENV, cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        states = [state for state, _, _ in store_rows(path).values()]
        if states.count("done") >= 2 and "running" in states:  # kill while a task is held
            break
        time.sleep(0.05)
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
    seeds = ", ".join(f"{{bulk: Cu, cubic: true, repeat: [2, 2, 2], rattle: 0.1, seed: {i}}}" for i in range(8))
    path = write_spec(tmp_path, f"""
batch_size: 1
tasks:
  - kind: relax
    parameters: {{fmax: 0.01}}
    product: {{atoms: [{seeds}]}}
""")
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


def test_dask_local_cluster_gives_the_local_results(tmp_path):
    # Relaxations only: the worker processes then never import torch (single points would, via predict).
    body = STRUCTURES + """
tasks:
  - kind: relax
    parameters: {fmax: 0.05}
    zip: {atoms: [cu, al, "bulk:Ni"]}
"""
    local = load_spec(write_spec(tmp_path, body, "local.yaml"))
    distributed = load_spec(write_spec(tmp_path, body, "dask.yaml"))
    assert run_spec(local).done == 3
    assert run_spec(distributed, executor="dask", workers=2).done == 3
    for a, b in zip(spec_results(local), spec_results(distributed)):
        assert a.key == b.key
        assert b.provenance["executor"] == "dask"
        assert b.result["energy"] == pytest.approx(a.result["energy"], abs=1e-9)
        assert b.result["steps"] == a.result["steps"]
        np.testing.assert_allclose(b.result["atoms"]["positions"]["__ndarray__"][2],
                                   a.result["atoms"]["positions"]["__ndarray__"][2], atol=1e-9)


def test_pool_pins_one_gpu_per_worker(tmp_path):
    path = write_spec(tmp_path, STRUCTURES + """
batch_size: 1
tasks:
  - kind: relax
    parameters: {fmax: 0.1}
    zip: {atoms: [cu, al, "bulk:Ni", "bulk:Ag"]}
""")
    summary = run_spec(load_spec(path), executor="pool", workers=2, devices=("5", "7"))
    assert summary.done == 4
    records = spec_results(load_spec(path))
    assert {r.provenance["cuda_visible_devices"] for r in records} <= {"5", "7"}
    assert records[0].result["energy"] == pytest.approx(relax(rattled("Cu", 1), EMT(), fmax=0.1).energy, abs=1e-9)


def test_slurm_array_element_runs_its_task(tmp_path):
    path = write_spec(tmp_path, STRUCTURES + """
slurm: {partition: gpu, time: "01:00:00", gpus: 1, setup: ["echo setup-ran"]}
tasks:
  - kind: relax
    parameters: {fmax: 0.1}
    zip: {atoms: [cu, al, "bulk:Ni"]}
""")
    result = CliRunner().invoke(app, ["submit", str(path), "--slurm", "--json"])
    assert result.exit_code == 0, result.output
    script = Path(json.loads(result.stdout)["script"]).read_text()
    assert "#SBATCH --array=0-2" in script and "#SBATCH --partition=gpu" in script
    assert "#SBATCH --gres=gpu:1" in script
    assert '--task-index "$SLURM_ARRAY_TASK_ID"' in script
    # Run the script as Slurm would run array element 1 (#SBATCH lines are comments to bash).
    completed = subprocess.run(["bash", "-c", script], env=ENV | {"SLURM_ARRAY_TASK_ID": "1"},
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert "setup-ran" in completed.stdout
    states = [r["state"] for r in spec_status(load_spec(path)).tasks]
    assert states == ["pending", "done", "pending"]
    assert spec_results(load_spec(path))[1].result["energy"] == pytest.approx(
        relax(rattled("Al", 2), EMT(), fmax=0.1).energy, abs=1e-9)
    # Resubmitting covers only what is left.
    CliRunner().invoke(app, ["submit", str(path), "--slurm"])
    assert "#SBATCH --array=0,2" in (load_spec(path).run_dir / "submit.sbatch").read_text()
    assert CliRunner().invoke(app, ["submit", str(path)]).exit_code == 2


def test_dask_slurm_cluster_settings_from_spec():
    kwargs = slurm_cluster_kwargs({"cluster": "slurm", "jobs": 4, "queue": "gpu", "account": "p1", "cpus": 8,
                                   "memory": "32GB", "gpus_per_job": 1, "job_script_prologue": ["module load cuda"]})
    assert kwargs["queue"] == "gpu" and kwargs["account"] == "p1" and kwargs["job_cpu"] == 8
    assert (kwargs["cores"], kwargs["processes"]) == (1, 1)  # one single-threaded worker per job and GPU
    assert "--gres=gpu:1" in kwargs["job_extra_directives"]
    with pytest.raises(InputError, match="unknown keys"):
        slurm_cluster_kwargs({"cluster": "slurm", "gpu": 1})


def test_window_and_react_kinds_match_direct_calls(tmp_path):
    """Thermodynamics through the runner: the experimental-enthalpy source ships with pymatgen, so this is
    offline. Reference: Richards et al., Chem. Mater. 28, 266 (2016), Fig. 1c, LiI oxidises at 2.80 V;
    and the same functions called directly (identical numbers expected)."""
    from ssbkit.interfaces.entries import ExperimentalSource
    from ssbkit.interfaces.phases import PhaseDiagrams
    from ssbkit.interfaces.reactions import reaction_profile
    from ssbkit.interfaces.stability import stability_window

    path = write_spec(tmp_path, """
tasks:
  - kind: window
    parameters: {source: experimental}
    product: {formula: [LiI]}
  - kind: react
    parameters: {source: experimental}
    zip: {reactant_a: [LiNbO3], reactant_b: [Li]}
""")
    spec = load_spec(path)
    assert [t.model for t in spec.tasks] == [None] * 2
    assert run_spec(spec).done == 2
    records = spec_results(spec)
    assert records[0].result["oxidation_limit_V"] == pytest.approx(2.80, abs=0.015)
    source = PhaseDiagrams(ExperimentalSource())
    for task, record in zip(spec.tasks[:1], records[:1]):
        direct = stability_window(task.inputs["formula"], source)
        assert record.result["oxidation_limit_V"] == pytest.approx(direct.oxidation_limit_V, abs=1e-12)
        assert record.result["oxidation_products"] == direct.oxidation_products
    for task, record in zip(spec.tasks[1:], records[1:]):
        direct = reaction_profile(task.inputs["reactant_a"], task.inputs["reactant_b"], source)
        assert record.result["min_reaction_energy_eV_per_atom"] == pytest.approx(
            direct.min_reaction_energy_eV_per_atom, abs=1e-12)
    csv_header = CliRunner().invoke(app, ["results", str(path), "--csv"]).stdout.splitlines()[0]
    assert "formula" in csv_header and "oxidation_limit_V" in csv_header


def test_screen_kind_matches_a_direct_call(tmp_path):
    """A coating screen as a runner task (offline, experimental enthalpies): one task per electrolyte x
    electrode pair, candidates as a parameter; the stored ranking equals screen_candidates called
    directly. Physics check: Li3N is the one candidate stable against Li metal (reduction limit 0 V;
    Zhu et al., Adv. Energy Mater. 2016, list Li3N among the Li-stable interlayers), so it ranks first
    when the range to cover is 0-0.5 V."""
    from ssbkit.interfaces.entries import ExperimentalSource
    from ssbkit.interfaces.phases import PhaseDiagrams
    from ssbkit.interfaces.screening import screen_candidates

    path = write_spec(tmp_path, """
tasks:
  - kind: screen
    parameters: {source: experimental, candidates: [LiNbO3, Li3N, LiTaO3], voltage_range: [0.0, 0.5]}
    product: {electrolyte: [LiI], electrode: [Li]}
""")
    spec = load_spec(path)
    assert run_spec(spec).done == 1
    stored = spec_results(spec)[0].result
    direct = screen_candidates(["LiNbO3", "Li3N", "LiTaO3"], "LiI", "Li", PhaseDiagrams(ExperimentalSource()),
                               voltage_range=(0.0, 0.5))
    assert [c["candidate"] for c in stored["candidates"]] == [c.candidate for c in direct.candidates]
    assert stored["candidates"][0]["candidate"] == "Li3N" and stored["candidates"][0]["reduction_limit_V"] == 0.0
    for row, score in zip(stored["candidates"], direct.candidates):
        assert row["worst_reaction_energy_eV_per_atom"] == pytest.approx(score.worst_reaction_energy_eV_per_atom,
                                                                         abs=1e-12)
    (tmp_path / "bad").mkdir()
    bad = write_spec(tmp_path / "bad", """
tasks:
  - kind: screen
    parameters: {source: experimental, candidates: LiNbO3}
    product: {electrolyte: [LiI], electrode: [Li]}
""")
    assert run_spec(load_spec(bad)).failed == 1  # candidates must be a list: recorded as a failed task


def test_adhesion_kind_reads_interface_files_and_matches_a_direct_call(tmp_path):
    """A Cu(111) slab split into two halves (interface_part kept in the extxyz file): cleaving bulk-like
    Cu costs two surfaces, so the interface energy is 0 (analytic) and W_adh equals the direct call."""
    from ase.build import fcc111

    from ssbkit.workflows.adhesion import adhesion

    slab = fcc111("Cu", size=(1, 1, 6), a=3.6, vacuum=8.0, periodic=True)
    slab.info.clear()  # adsorbate bookkeeping that extxyz cannot store
    slab.set_array("interface_part", (slab.positions[:, 2] > slab.positions[:, 2].mean()).astype(int))
    write(tmp_path / "interface.extxyz", slab)
    spec = load_spec(write_spec(tmp_path, """
tasks:
  - kind: adhesion
    inputs: {interface: interface.extxyz, film_bulk: {bulk: Cu, a: 3.6}, substrate_bulk: {bulk: Cu, a: 3.6}}
    parameters: {relax_positions: false, relax_bulk: false}
  - kind: adhesion
    inputs: {interface: interface.extxyz}
    parameters: {relax_positions: false}
"""))
    assert run_spec(spec).done == 2
    with_bulks, without = (r.result for r in spec_results(spec))
    direct = adhesion(slab, EMT(), bulk("Cu", a=3.6), bulk("Cu", a=3.6), relax_positions=False, relax_bulk=False)
    assert with_bulks["work_of_adhesion_J_m2"] == pytest.approx(direct.work_of_adhesion_J_m2, abs=1e-9)
    assert with_bulks["interface_energy_J_m2"] == pytest.approx(0.0, abs=1e-4)
    assert without["work_of_adhesion_J_m2"] == pytest.approx(direct.work_of_adhesion_J_m2, abs=1e-9)
    assert without["interface_energy_J_m2"] is None
    unmarked = slab.copy()
    del unmarked.arrays["interface_part"]
    write(tmp_path / "unmarked.extxyz", unmarked)
    other = load_spec(write_spec(tmp_path, "tasks:\n  - kind: adhesion\n    inputs: {interface: unmarked.extxyz}\n",
                                 "unmarked.yaml"))
    assert other.tasks[0].key != spec.tasks[1].key  # per-atom arrays are part of the key
    summary = run_spec(other)
    assert summary.failed == 1 and "interface_part" in summary.failures[0]["error"]


def test_neb_kind_matches_a_direct_call(tmp_path):
    """An Al adatom hop on Al(100) with EMT, as a zip of endpoint files: the stored barrier equals a direct
    ssbkit.workflows.neb call on the same structures, and the mirror-symmetric hop has equal forward and
    backward barriers (analytic symmetry; 1 meV for the loose fmax used here)."""
    from ase.build import add_adsorbate, fcc100
    from ase.constraints import FixAtoms

    from ssbkit.workflows.neb import neb

    slab = fcc100("Al", size=(2, 2, 3), vacuum=6.0)
    add_adsorbate(slab, "Al", 1.7, "hollow")
    slab.set_constraint(FixAtoms(mask=[atom.tag > 1 for atom in slab]))
    slab.info.clear()
    final = slab.copy()
    final.positions[-1, 0] += 4.05 / np.sqrt(2)
    write(tmp_path / "initial.traj", slab)
    write(tmp_path / "final.traj", final)
    spec = load_spec(write_spec(tmp_path, """
tasks:
  - kind: neb
    parameters: {n_images: 3, fmax: 0.05, endpoint_fmax: 0.02}
    zip: {initial: [initial.traj], final: [final.traj]}
"""))
    assert run_spec(spec).done == 1
    record = spec_results(spec)[0]
    direct = neb(spec.tasks[0].inputs["initial"], spec.tasks[0].inputs["final"], EMT(), n_images=3, fmax=0.05,
                 endpoint_fmax=0.02)
    assert record.result["barrier_forward"] == pytest.approx(direct.barrier_forward, abs=1e-9)
    assert record.result["barrier_forward"] == pytest.approx(record.result["barrier_backward"], abs=1e-3)
    assert (spec.run_dir / record.provenance["output_dir"] / "neb_path.extxyz").is_file()


def test_md_diffusion_kind_passes_its_parameters(tmp_path):
    """Wiring only (the MD and MSD physics are validated in test_diffusion.py): a 0.08 ps run is refused by
    the analysis with a message that echoes the parameters given in the spec; the task is recorded failed."""
    path = write_spec(tmp_path, """
structures:
  cuag: {file: cuag.extxyz}
tasks:
  - kind: md-diffusion
    inputs: {atoms: cuag}
    parameters: {temperatures: [1200], species: Cu, equilibration_steps: 0, production_steps: 40,
                 save_every: 10, seed: 1}
""")
    atoms = bulk("Cu", cubic=True).repeat(2)
    atoms.symbols[0] = "Ag"
    write(tmp_path / "cuag.extxyz", atoms)
    summary = run_spec(load_spec(path))
    assert summary.failed == 1
    assert "0.08 ps" in summary.failures[0]["error"] and "Cu" in summary.failures[0]["error"]
    output = load_spec(path).run_dir / "tasks" / load_spec(path).tasks[0].key
    assert any(output.glob("*.extxyz"))  # the trajectory went to the task's own directory


@pytest.mark.slow
def test_md_diffusion_kind_matches_a_direct_run(tmp_path):
    """Cu tracer diffusion in Cu(Ag) with EMT at 1200 K: the runner's stored D equals a direct call with the
    same seed (Langevin noise is seeded, so the runs are identical)."""
    from ssbkit.workflows.diffusion import diffusion

    path = write_spec(tmp_path, """
tasks:
  - kind: md-diffusion
    inputs: {atoms: cuag.extxyz}
    parameters: {temperatures: [1200], species: Cu, timestep: 4.0, equilibration_steps: 10,
                 production_steps: 600, save_every: 20, seed: 0}
""")
    atoms = bulk("Cu", cubic=True).repeat(2)
    atoms.symbols[0] = "Ag"
    write(tmp_path / "cuag.extxyz", atoms)
    spec = load_spec(path)
    assert run_spec(spec).done == 1
    stored = spec_results(spec)[0].result["per_temperature"][0]
    direct = diffusion(spec.tasks[0].inputs["atoms"], EMT(), [1200.0], tmp_path / "direct", timestep=4.0,
                       equilibration_steps=10, production_steps=600, save_every=20, species="Cu", seed=0,
                       progress=False).per_temperature[0]
    assert stored["diffusivity"] == pytest.approx(direct.diffusivity, rel=1e-9)


# --- batching -----------------------------------------------------------------------------------------


def test_lockstep_relaxations_match_separate_ones_with_fewer_model_calls():
    structures = [rattled("Cu", 0), rattled("Al", 1), rattled("Cu", 2, stdev=0.02)]
    separate = [relax(a, EMT(), fmax=0.05) for a in structures]
    jobs = [lambda calc, a=a: relax(a, calc, fmax=0.05) for a in structures]
    batched, calls = run_lockstep(jobs, EMT())
    for one, other in zip(separate, batched):
        assert other.energy == pytest.approx(one.energy, abs=1e-9)
        assert other.steps == one.steps
    # Each relaxation evaluates once per step plus once at the start; lockstep shares those calls.
    assert calls == max(r.steps for r in separate) + 1 < sum(r.steps + 1 for r in separate)


def test_lockstep_failure_stays_with_its_job():
    jobs = [lambda calc: relax(rattled("Cu", 0), calc, optimizer="NOPE"),
            lambda calc: relax(rattled("Al", 1), calc, fmax=0.05)]
    (failure, success), _ = run_lockstep(jobs, EMT())
    assert isinstance(failure, InputError)
    assert success.energy == pytest.approx(relax(rattled("Al", 1), EMT(), fmax=0.05).energy, abs=1e-9)


def test_batched_run_matches_unbatched_run(tmp_path):
    body = STRUCTURES + """
tasks:
  - kind: relax
    parameters: {fmax: 0.05}
    zip: {atoms: [cu, al]}
  - kind: singlepoint
    zip: {atoms: [cu, al, "bulk:Ni"]}
"""
    single = load_spec(write_spec(tmp_path, "batch_size: 1\n" + body, "single.yaml"))
    batched = load_spec(write_spec(tmp_path, "batch_size: 8\n" + body, "batched.yaml"))
    run_spec(single)
    run_spec(batched)
    for a, b in zip(spec_results(single), spec_results(batched)):
        assert b.result["energy"] == pytest.approx(a.result["energy"], abs=1e-9)
    batched_records = spec_results(batched)
    assert [r.provenance["batch_size"] for r in batched_records] == [2, 2, 3, 3, 3]
    assert batched_records[2].provenance["batched_model_calls"] == 1  # three single points, one predict call


@pytest.mark.gpu
def test_gpu_batched_chgnet_tasks_match_one_by_one(tmp_path):
    """On a GPU, eight single points share one batched CHGNet call and four relaxations run in lockstep;
    the reference is CHGNet evaluated one structure at a time through its own ASE calculator.
    Tolerances: CHGNet runs in float32, and batched graphs sum in a different order (~1e-5 eV/atom)."""
    from ssbkit.workflows.kinds import load_model

    path = write_spec(tmp_path, STRUCTURES + """
device: cuda
batch_size: 8
tasks:
  - kind: singlepoint
    model: chgnet
    product: {atoms: [cu, al, "bulk:Ni", "bulk:Ag", "bulk:Au", "bulk:Pd", "bulk:Pt", "bulk:Li"]}
  - kind: relax
    model: chgnet
    parameters: {fmax: 0.05, steps: 20}
    zip: {atoms: [cu, al, "bulk:Ni", "bulk:Li"]}
""")
    spec = load_spec(path)
    assert run_spec(spec).done == 12
    records = spec_results(spec)
    assert records[0].provenance["batched_model_calls"] == 1
    assert records[0].provenance["device"].startswith("cuda")
    calculator = load_model("chgnet", device="cuda")
    for task, record in zip(spec.tasks[:8], records[:8]):
        atoms = task.inputs["atoms"].copy()
        atoms.calc = calculator
        assert record.result["energy_per_atom"] == pytest.approx(atoms.get_potential_energy() / len(atoms),
                                                                 abs=1e-4)
        np.testing.assert_allclose(record.result["forces"], atoms.get_forces(), atol=2e-3)
    for task, record in zip(spec.tasks[8:], records[8:]):
        direct = relax(task.inputs["atoms"], calculator, fmax=0.05, steps=20)
        assert record.result["energy_per_atom"] == pytest.approx(direct.energy_per_atom, abs=2e-3)
