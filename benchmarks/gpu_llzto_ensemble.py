"""GPU run: LLZTO ensemble MD with SevenNet-0 (configurations x temperatures batched) and notebook 3 (quick).

One script for one lent GPU (about 8 minutes of an H200):

1. Build 4 low-Ewald-energy configurations of Li6.5La3Zr1.5Ta0.5O12 (LLZTO, the seed papers' composition) in
   the conventional cubic cell (188 atoms; 52 Li, 4 Ta), written to ``$OUT/llzto_ensemble``.
2. Measure the speed of the 12 batched replicas (4 configurations x 3 temperatures) for a few steps, then
   size the production to ``--md-budget-s`` and run it: ``ssbkit.workflows.diffusion.diffusion`` with
   kinisi tracer and charge D, the measured Haven ratio, Ea over temperatures and configurations with its
   uncertainty, and sigma(300 K) only when the validity checks pass. Results: ``$OUT/llzto_md/diffusion.json``
   and ``$OUT/summary.json`` (model, cell, run lengths, configurations, timings, references).
3. Execute notebook 3 (LLZO grain boundary) with ``SSBKIT_NOTEBOOK_QUICK=1`` in ``$OUT/notebook3`` within
   ``--notebook-timeout-s``; the executed notebook is saved whether or not it finishes.

References printed next to the result: AIMD c-LLZO Ea 0.26 eV (He et al., npj Comput. Mater. 4, 18, 2018);
experiment LLZTO Ea ~0.3-0.45 eV and sigma(RT) ~0.5-1 mS/cm.

Usage (on the GPU machine, from the repository root):
    python benchmarks/gpu_llzto_ensemble.py --out "$OUT" [--md-budget-s 240] [--notebook-timeout-s 300]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

PARENT = "Li6.5La3Zr1.5Ta0.5O12"
MODEL = "sevennet-0"
TEMPERATURES = (1000.0, 1150.0, 1300.0)  # K
N_CONFIGURATIONS = 4
TIMESTEP_FS = 2.0
SAVE_EVERY = 10
EQUILIBRATION_STEPS = 500
MIN_PRODUCTION_STEPS = 1600  # 3.2 ps: the fits use lags from 1 ps to half the production
PROBE_STEPS = 20
REFERENCES = {"aimd_c_llzo_Ea_eV": 0.26, "experiment_llzto_Ea_eV": [0.3, 0.45],
              "experiment_llzto_sigma_RT_mS_cm": [0.5, 1.0]}


def build_members(out: Path) -> tuple[list, dict]:
    from ssbkit.interfaces.structures.ensembles import build_ensemble, ensemble_atoms, load_parent, write_ensemble

    ensemble = build_ensemble(load_parent(PARENT), (1, 1, 1), N_CONFIGURATIONS, name="LLZTO")
    write_ensemble(ensemble, out / "llzto_ensemble")
    return ensemble_atoms(ensemble), {"formula": ensemble.formula, "n_atoms": ensemble.n_atoms,
                                      "ewald_std_meV_per_atom": ensemble.ewald_std_meV_per_atom}


def replica_steps_per_second(members: list, calculator, directory: Path) -> float:
    """Steps per second of all replicas advancing together, from a short probe run."""
    from ssbkit.workflows.md import run_replicas

    replicas = [atoms for atoms in members for _ in TEMPERATURES]
    temperatures = [t for _ in members for t in TEMPERATURES]
    probe = run_replicas(replicas, temperatures, calculator, directory, timestep=TIMESTEP_FS,
                         equilibration_steps=0, production_steps=PROBE_STEPS, save_every=PROBE_STEPS)
    return probe.steps_per_second


def run_notebook(out: Path, timeout_s: int) -> dict:
    """Execute notebook 3 cell by cell within ``timeout_s`` in all, saving the executed notebook after every
    cell, so that whatever ran is kept when the time runs out."""
    import nbformat
    from nbclient import NotebookClient

    root = Path(__file__).resolve().parents[1]
    directory = out / "notebook3"
    directory.mkdir(parents=True, exist_ok=True)
    os.environ["SSBKIT_NOTEBOOK_QUICK"] = "1"
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    notebook = nbformat.read(root / "notebooks" / "03_llzo_grain_boundary.ipynb", as_version=4)
    executed = directory / "03_llzo_grain_boundary.executed.ipynb"
    client = NotebookClient(notebook, timeout=timeout_s, kernel_name="python3",
                            resources={"metadata": {"path": str(directory)}})
    start = time.perf_counter()
    status, cell_s = "completed", []
    try:
        with client.setup_kernel():
            for index, cell in enumerate(notebook.cells):
                client.timeout = max(1, int(timeout_s - (time.perf_counter() - start)))
                began = time.perf_counter()
                client.execute_cell(cell, index)
                cell_s.append(round(time.perf_counter() - began, 1))
                nbformat.write(notebook, executed)
    except Exception as exc:  # a cell error or the time limit: keep what ran
        status = f"stopped at cell {len(cell_s)}: {type(exc).__name__}: {str(exc)[:400]}"
    nbformat.write(notebook, executed)
    return {"status": status, "wall_s": time.perf_counter() - start, "cell_wall_s": cell_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu_out")))
    parser.add_argument("--md-budget-s", type=float, default=240.0, help="Wall time for the ensemble MD (s).")
    parser.add_argument("--notebook-timeout-s", type=int, default=300, help="Wall time for all of notebook 3 (s).")
    parser.add_argument("--skip-notebook", action="store_true")
    parser.add_argument("--notebook-only", action="store_true", help="Only execute notebook 3.")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--equilibration-steps", type=int, default=EQUILIBRATION_STEPS)
    parser.add_argument("--min-production-steps", type=int, default=MIN_PRODUCTION_STEPS,
                        help="Shortest production (steps) whatever the budget; a smaller value is for smoke tests.")
    args = parser.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    if args.notebook_only:
        notebook = run_notebook(out, args.notebook_timeout_s)
        (out / "notebook3.json").write_text(json.dumps(notebook, indent=1))
        print(f"notebook 3: {notebook}", flush=True)
        return
    summary: dict = {"model": MODEL, "parent": PARENT, "temperatures_K": list(TEMPERATURES),
                     "n_configurations": N_CONFIGURATIONS, "timestep_fs": TIMESTEP_FS, "references": REFERENCES}
    start = time.perf_counter()

    from ssbkit.potentials import load
    from ssbkit.workflows.diffusion import diffusion, write_result

    members, summary["ensemble"] = build_members(out)
    calculator = load(MODEL, device=args.device, task="md")
    rate = replica_steps_per_second(members, calculator, out / "speed_probe")
    production = max(args.min_production_steps, int(rate * args.md_budget_s) - args.equilibration_steps)
    summary.update(steps_per_second=rate, equilibration_steps=args.equilibration_steps, production_steps=production,
                   production_ps=production * TIMESTEP_FS / 1000, setup_s=time.perf_counter() - start)
    print(f"{len(members)} configurations x {len(TEMPERATURES)} T, {members[0].get_chemical_formula()}: "
          f"{rate:.2f} steps/s -> {production} production steps", flush=True)

    md_start = time.perf_counter()
    result = diffusion(members, calculator, list(TEMPERATURES), out / "llzto_md", timestep=TIMESTEP_FS,
                       equilibration_steps=args.equilibration_steps, production_steps=production,
                       save_every=SAVE_EVERY, progress=False)
    write_result(result, out / "llzto_md" / "diffusion.json")
    summary["md_wall_s"] = time.perf_counter() - md_start
    summary["ensemble_arrhenius"] = None if result.ensemble_arrhenius is None else result.ensemble_arrhenius.to_dict()
    summary["ensemble"] = [entry.to_dict() for entry in result.ensemble]
    summary["caveats"] = [f"{c.code}: {c.message}" for c in result.caveats]
    fit = result.ensemble_arrhenius
    if fit is not None:
        sigma = "refused" if fit.conductivity_mS_cm is None else \
            f"{fit.conductivity_mS_cm:.3g} ± {fit.conductivity_std_mS_cm:.2g} mS/cm"
        print(f"Ea = {fit.activation_energy_eV:.3f} ± {fit.activation_energy_std_eV:.3f} eV (AIMD c-LLZO 0.26, "
              f"exp. LLZTO 0.3-0.45); Haven {fit.haven_ratio:.2f} ± {fit.haven_ratio_std:.2f}; sigma(300 K) {sigma} "
              "(exp. 0.5-1 mS/cm)", flush=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))

    if not args.skip_notebook:
        summary["notebook3"] = run_notebook(out, args.notebook_timeout_s)
        print(f"notebook 3: {summary['notebook3']}", flush=True)
    summary["total_wall_s"] = time.perf_counter() - start
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))


if __name__ == "__main__":
    main()
