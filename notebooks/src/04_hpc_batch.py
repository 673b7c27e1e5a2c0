# %% [markdown]
# # 4. An HPC batch: a spec, a Dask run, a Slurm array, collecting results
#
# Hundreds of relaxations or single points are a *batch*: a YAML spec that expands into tasks, a
# resumable SQLite store that holds each task's result, and an executor that runs the tasks on this
# machine, on a Dask cluster, or as a Slurm job array. This notebook writes a spec, looks at its
# tasks, writes the Slurm array script you would submit on a cluster, runs the batch here on a Dask
# `LocalCluster`, shows that a rerun resumes instead of recomputing, and collects the results into a
# table and a plot.
#
# **Model and data.** Structures are built by ASE (`bulk`, rattled supercells); no external data.
# With `SSBKIT_NOTEBOOK_QUICK=1` (the test suite's setting) the model is ASE's EMT, which runs in
# milliseconds; otherwise CHGNet 0.3.0 (weights ship with the `chgnet` wheel, so it runs offline).
#
# **A production run would** put real structures in the spec (CIF/POSCAR files: coatings, interfaces,
# grain boundaries), use `model: chgnet`, `sevennet-0` or a MACE model, set `device: cuda` with a
# `batch_size` of 32 or more so that a GPU evaluates many structures per model call, and submit
# with `ssbkit submit SPEC --slurm` (one array element per task) or run through dask-jobqueue's
# `SLURMCluster` (`dask: {cluster: slurm, ...}` in the spec). On a shared file system set
# `store: {journal_mode: delete}`. Everything here is also a CLI command: `ssbkit run/status/results/submit`.

# %%
import os
from pathlib import Path

import yaml

QUICK = os.environ.get("SSBKIT_NOTEBOOK_QUICK", "0") == "1"
MODEL = "emt" if QUICK else "chgnet"
WORK = Path("hpc_batch")
WORK.mkdir(exist_ok=True)
print(f"quick={QUICK}: model {MODEL}, files in {WORK.resolve()}")

# %% [markdown]
# ## The spec
#
# Named structures (rattled 2x2x2 cubic supercells, 32 atoms each), then task templates: `product`
# takes every combination of its lists, `zip` goes through its lists element-wise. Here: three
# metals relaxed to two force thresholds (6 relaxations), and a single point on each structure as
# built (3 tasks). The `slurm:` section is used only by the array script below.

# %%
spec_document = {
    "model": MODEL,
    "device": "cpu",
    "structures": {
        "cu": {"bulk": "Cu", "cubic": True, "repeat": [2, 2, 2], "rattle": 0.05, "seed": 1},
        "al": {"bulk": "Al", "cubic": True, "repeat": [2, 2, 2], "rattle": 0.05, "seed": 2},
        "ni": {"bulk": "Ni", "cubic": True, "repeat": [2, 2, 2], "rattle": 0.05, "seed": 3},
    },
    "tasks": [
        {"kind": "relax", "parameters": {"steps": 200}, "product": {"atoms": ["cu", "al", "ni"], "fmax": [0.1, 0.02]}},
        {"kind": "singlepoint", "zip": {"atoms": ["cu", "al", "ni"]}},
    ],
    "slurm": {"partition": "gpu", "time": "01:00:00", "gpus": 1, "cpus_per_task": 8, "max_parallel": 20,
              "setup": ["module load cuda"]},
}
spec_path = WORK / "metals.yaml"
spec_path.write_text(yaml.safe_dump(spec_document, sort_keys=False, default_flow_style=None))
print(spec_path.read_text())

# %%
from ssbkit.workflows.runner import load_spec

spec = load_spec(spec_path)
print(f"{len(spec.tasks)} tasks, results in {spec.run_dir}")
for task in spec.tasks:
    print(task.index, task.kind, task.labels, task.key[:12])

# %% [markdown]
# ## On a Slurm cluster: one array element per task
#
# `write_slurm_script` (CLI: `ssbkit submit metals.yaml --slurm`) writes `submit.sbatch` in the run
# directory for the tasks not yet done; element *i* runs `ssbkit run SPEC --task-index i`, and all
# elements write to the same store. On the cluster you would now run `sbatch` on it.

# %%
from ssbkit.workflows.runner import write_slurm_script

script_path, elements = write_slurm_script(spec)
print(f"{script_path}: {elements} array elements\n")
print(Path(script_path).read_text())

# %% [markdown]
# ## Here: a Dask LocalCluster
#
# `executor="dask"` starts a `LocalCluster` with one single-threaded worker process per `workers`
# (each would get its own GPU if there were several). CLI: `ssbkit run metals.yaml --executor dask --workers 2`.

# %%
from ssbkit.workflows.runner import run_spec

summary = run_spec(spec, executor="dask", workers=2, progress=False)
print(f"{summary.done}/{summary.tasks} done, {summary.failed} failed in {summary.seconds:.1f} s")
assert summary.failed == 0

# %% [markdown]
# Finished tasks are keyed by a hash of kind, structure, parameters, model and ssbkit version, so a
# rerun (after a crash, a timeout, or with tasks added to the spec) only runs what is missing:

# %%
rerun = run_spec(spec, executor="local", progress=False)
print(f"rerun: {rerun.done}/{rerun.tasks} done in {rerun.seconds:.2f} s (nothing recomputed)")

# %% [markdown]
# ## Collecting results
#
# `results_table` flattens each task's labels and scalar result fields into rows (CLI:
# `ssbkit results metals.yaml --csv`); `spec_results` gives the full records, with forces,
# relaxed structures, provenance, log and trajectory paths.

# %%
import pandas as pd

from ssbkit.workflows.runner import results_table, spec_results

columns, rows = results_table(spec)
table = pd.DataFrame(rows, columns=columns)
table.to_csv(WORK / "results.csv", index=False)
table[["index", "kind", "atoms", "fmax", "state", "energy_per_atom", "result_fmax", "steps", "converged",
       "seconds"]]

# %%
record = spec_results(spec)[0]
print(record.kind, record.labels, record.state)
print("provenance:", record.provenance)
print("log:", record.log_path, "\ntrajectory:", record.trajectory_path)

# %% [markdown]
# Relaxation lowers the energy of each rattled cell; a tighter force threshold lowers it a little
# more at the cost of more steps.

# %%
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

done = table[table.state == "done"]
singlepoints = done[done.kind == "singlepoint"].set_index("atoms").energy_per_atom
relaxed = done[done.kind == "relax"]
fig, axes = plt.subplots(1, 2, figsize=(8, 3))
for threshold, group in relaxed.groupby("fmax"):
    group = group.set_index("atoms")
    drop_meV = 1000 * (group.energy_per_atom - singlepoints[group.index])
    axes[0].plot(drop_meV.index, drop_meV.values, "o", label=f"fmax {threshold} eV/Å")
    axes[1].plot(group.index, group.steps, "s", label=f"fmax {threshold} eV/Å")
axes[0].set_ylabel("relaxed - as built (meV/atom)")
axes[1].set_ylabel("relaxation steps")
for axis in axes:
    axis.legend(fontsize=8)
fig.suptitle(f"Batch of {len(table)} tasks with {MODEL}")
fig.tight_layout()
fig.savefig(WORK / "batch_results.png", dpi=120)
print("saved", WORK / "batch_results.png")
