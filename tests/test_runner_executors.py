"""Runner executors: local, process pool, Dask, Slurm arrays, and batched model calls (lockstep relaxations).

Physics references: every stored energy is compared with ASE's own EMT evaluated directly, or with
``ssbkit.workflows.relax.relax`` run directly on the same structure; EMT is deterministic, so results
computed in another process or through batched calls must agree to float round-off (1e-9 eV).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from ase.calculators.emt import EMT
from typer.testing import CliRunner

from ssbkit.cli import app
from ssbkit.errors import InputError
from ssbkit.potentials.batching import run_lockstep
from ssbkit.workflows.relax import relax
from ssbkit.workflows.runner import load_spec, run_spec, spec_results, spec_status
from ssbkit.workflows.runner.executors import slurm_cluster_kwargs

from runner_helpers import ENV, STRUCTURES, emt_energy, rattled, store_rows, write_spec


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


@pytest.mark.parametrize("batch_size", [1, 8])
def test_retry_of_a_failed_task_reports_the_real_error(tmp_path, batch_size):
    # EMT has no Fe: the first attempt fails inside EMT's set-up; the retry must run on a reset
    # calculator and fail the same way, not on the half-initialised one left behind.
    path = write_spec(tmp_path, f"retries: 1\nbatch_size: {batch_size}\n" + STRUCTURES + """
tasks:
  - kind: relax
    parameters: {fmax: 0.05}
    zip: {atoms: ["bulk:Fe", cu]}
""")
    summary = run_spec(load_spec(path))
    assert (summary.done, summary.failed) == (1, 1)
    assert summary.failures[0]["error"] == "NotImplementedError: No EMT-potential for Fe"
    assert sorted(claims for _, claims, _ in store_rows(path).values()) == [1, 2]
    cu = spec_results(load_spec(path))[1]
    direct = relax(rattled("Cu", 1), EMT(), fmax=0.05)
    assert cu.result["energy"] == pytest.approx(direct.energy, abs=1e-9)


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
