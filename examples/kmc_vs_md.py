"""kMC against MD with the same model, at temperatures MD can reach: jump rates and tracer D.

``ssbkit kinetics`` turns the NEB barriers and Vineyard prefactors of the host's hop classes into a site
network and runs kMC. Here MD with the same model runs in the first hop class's own NEB cell (one interstitial
atom, or one vacancy), with ``--copies`` replicas per temperature (distinct thermostat seeds), and
``compare_with_md`` (``ssbkit.workflows.kinetics``) sets them side by side: the MD jump rate per carrier (settled
site changes) against the kMC walker's transition-state rate, and the MD tracer D (kinisi) against the kMC D in
the MD cell. Where harmonic transition-state theory holds (barrier several kT, a well-defined saddle, hops
uncorrelated) the rate ratio is a transmission coefficient a little below 1 and D agrees within a small
factor; where it does not, the output says by how much. Writes ``kinetics.json``, the MD trajectories and
``comparison.json``.

    python examples/kmc_vs_md.py --host al.cif --mechanism vacancy --model emt --temperatures 800 900 1000 \\
        --copies 2 --production-steps 10000 --timestep 4 --supercell-min-length 7.9 --max-length 3
    python examples/kmc_vs_md.py --host w --model sevennet-0 --temperatures 175 --copies 1
    python examples/kmc_vs_md.py --host li --mechanism vacancy --model chgnet --temperatures 350 400

``--host``: a named host (w, mg, li) or a structure file (any host; ``--species`` diffuses). ``--model emt``
is ASE's EMT (Al, Cu, Ag, Au, Ni, Pd, Pt): for al.cif, fcc Al at EMT's lattice constant, 3.995 Å.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

from ssbkit.cli.types import run_script
from ssbkit.interfaces.structures.sites import all_interstitial_positions
from ssbkit.io import read_structure
from ssbkit.workflows.kinds import load_model
from ssbkit.workflows.kinetics import NAMED_HOSTS, KineticsSystem, compare_with_md, host_system, kinetics, named_system
from ssbkit.workflows.md import run_replicas
from ssbkit.workflows.settings import KineticsSettings


def md_cell_and_sites(system: KineticsSystem, hop_labels: set[str]) -> tuple:
    """The first hop class's initial NEB cell (the MD cell) and the network's sites in it (Å): the host's
    interstitial sites of the hop classes' kinds, or its lattice sites with the vacant one."""
    candidate = system.hops[0]
    cell = candidate.initial.copy()
    cell.set_constraint()
    if system.mechanism == "vacancy":
        species = np.array(cell.get_chemical_symbols()) == system.species
        return cell, np.vstack([cell.positions[species], candidate.final.positions[candidate.moving_index]])
    host = cell[[symbol != system.species for symbol in cell.get_chemical_symbols()]]
    positions, labels = all_interstitial_positions(host, system.species)
    return cell, positions[[label in hop_labels for label in labels]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="w", help="named host (w, mg, li) or a structure file")
    parser.add_argument("--mechanism", default="interstitial", choices=["interstitial", "vacancy"])
    parser.add_argument("--species", default="Li", help="the diffusing element (structure files)")
    parser.add_argument("--out", type=Path, default=Path("kmc_vs_md"))
    parser.add_argument("--model", default="chgnet", help="a model name, or emt")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[500.0, 600.0, 700.0])
    parser.add_argument("--copies", type=int, default=2, help="MD replicas per temperature.")
    parser.add_argument("--production-steps", type=int, default=5000, help="MD production steps.")
    parser.add_argument("--timestep", type=float, default=2.0, help="MD time step (fs).")
    parser.add_argument("--max-length", type=float, default=3.3, help="structure files: longest hop (Å)")
    parser.add_argument("--supercell-min-length", type=float, default=9.0,
                        help="structure files: smallest width of the NEB (and MD) cell (Å)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    args.out.mkdir(parents=True, exist_ok=True)
    calculator = load_model(args.model, device="cpu", task="md")
    settings = KineticsSettings(mechanism=args.mechanism, species=args.species,
                                temperatures=tuple(args.temperatures), max_length=args.max_length,
                                supercell_min_length=args.supercell_min_length)
    if args.host.lower() in NAMED_HOSTS:
        system = named_system(args.host, args.mechanism)
    else:
        system = host_system(read_structure(args.host), settings, name=Path(args.host).stem)

    began = time.perf_counter()
    rates = kinetics(system, calculator, settings, model=args.model)
    (args.out / "kinetics.json").write_text(json.dumps(rates.to_dict(), indent=1))
    for hop in rates.hops:
        print(f"{hop.name}: barrier {hop.barrier_eV:.3f} eV, prefactor {hop.prefactor_Hz:.2e} Hz, "
              f"{hop.count_per_site} per site", flush=True)
    print(f"kinetics: {time.perf_counter() - began:.0f} s", flush=True)

    began = time.perf_counter()
    cell, sites = md_cell_and_sites(system, {label for hop in rates.hops for label in (hop.start_label,
                                                                                          hop.end_label)})
    md = run_replicas([cell] * (args.copies * len(args.temperatures)),
                      [t for t in args.temperatures for _ in range(args.copies)], calculator, args.out / "md",
                      timestep=args.timestep, equilibration_steps=250, production_steps=args.production_steps,
                      save_every=10, progress=False)
    print(f"MD ({cell.get_chemical_formula()}): {time.perf_counter() - began:.0f} s", flush=True)

    rows = compare_with_md(rates, [replica.path for replica in md.replicas], sites, cell)
    for row in rows:
        print(f"{row.temperature_K:6.0f} K (MD {row.kinetic_temperature_K:.0f} K, {row.production_ps:.0f} ps): "
              f"jumps {row.md_jumps}, rate MD/kMC {row.jump_rate_ratio:.2f} ± {row.jump_rate_ratio_std:.2f}; "
              f"D MD {row.md_D_cm2_per_s:.2e} ± {row.md_D_std_cm2_per_s:.1e}, kMC {row.kmc_D_cm2_per_s:.2e} ± "
              f"{row.kmc_D_std_cm2_per_s:.1e}, MD/kMC {row.D_ratio:.2f} ± {row.D_ratio_std:.2f}", flush=True)
    (args.out / "comparison.json").write_text(json.dumps(
        {"host": system.name, "mechanism": args.mechanism, "model": args.model,
         "cell": cell.get_chemical_formula(), "copies": args.copies, "timestep_fs": args.timestep,
         "hops": [hop.to_dict() for hop in rates.hops], "rows": [row.to_dict() for row in rows]}, indent=1))


if __name__ == "__main__":
    run_script(main)  # bad input or a refused calculation: one line on stderr, exit code 2
