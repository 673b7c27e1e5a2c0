"""Formation energies of Li compounds from ML potentials on the MP scale vs experiment (MAE per model).

Relaxes the library structures (primitive cells) of every Li compound that pymatgen's experimental
thermochemistry also lists, with each model, through ``ssbkit.workflows.ml_entries`` (MP2020 corrections
added or not as that module decides per model), and prints per-compound errors and the mean absolute
error against the experimental formation enthalpies. Also prints the MAE with the opposite correction
choice, the measurement that decides it.

    python benchmarks/mlip_formation_energies.py --models chgnet,sevennet-0 --device cpu
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from importlib import resources

import numpy as np
from pymatgen.core import Composition
from threadpoolctl import threadpool_limits

from ssbkit.interfaces.structures.references import list_reference_structures, load_reference_structure
from ssbkit.workflows.ml_entries import entry_from_structure, needs_mp2020_corrections
from ssbkit.potentials import load


def experimental_formation_energies() -> dict[str, float]:
    """eV/atom, pymatgen's bundled experimental formation enthalpies (298 K)."""
    raw = resources.files("pymatgen.analysis.compatibility").joinpath("exp_compounds.json.gz").read_bytes()
    return {r["formula"]: r["exp energy"] / Composition(r["formula"]).num_atoms for r in json.loads(gzip.decompress(raw))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="chgnet,sevennet-0")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    threadpool_limits(limits=1, user_api="blas")  # 3x3 cell-filter algebra: threads only add overhead
    experiment = experimental_formation_energies()
    compounds = [i.name for i in list_reference_structures()
                 if i.name in experiment and "Li" in Composition(i.name) and len(Composition(i.name)) > 1]
    print(f"{len(compounds)} Li compounds in the library and in the experimental set: {', '.join(compounds)}")
    for model in args.models.split(","):
        calculator = load(model, device=args.device)
        default = needs_mp2020_corrections(model)
        errors: dict[bool, list[float]] = {True: [], False: []}
        start = time.perf_counter()
        for name in compounds:
            structure = load_reference_structure(name).get_primitive_structure()
            row = []
            for corrections in (default, not default):
                entry = entry_from_structure(structure, calculator, mp2020_corrections=corrections)
                errors[corrections].append(entry.data["formation_energy_per_atom"] - experiment[name])
                row.append(f"{entry.data['formation_energy_per_atom']:+.3f}")
            print(f"  {model:11s} {name:9s} exp {experiment[name]:+.3f}  model {row[0]} "
                  f"(other choice {row[1]}) eV/atom", flush=True)
        mae = float(np.mean(np.abs(errors[default])))
        other = float(np.mean(np.abs(errors[not default])))
        print(f"{model}: MAE {mae:.3f} eV/atom with MP2020 corrections {'added' if default else 'not added'} "
              f"({other:.3f} with the other choice), {len(compounds)} compounds, "
              f"{time.perf_counter() - start:.0f} s on {args.device}")


if __name__ == "__main__":
    main()
