"""Screening 50 coating candidates: phase diagrams shared across candidates vs one per pair.

Both paths compute the same things for every candidate (window; closed reactions with electrolyte and
electrode; Li-open reactions at both ends of the voltage range) from the same entry list. The baseline
calls the same functions with a plain entry list, so every call builds its own pymatgen phase diagram(s);
``screen_candidates`` builds each chemical system's diagram once. Prints both times and their ratio, and
checks that the numbers agree.

    python -m benchmarks.screening_reuse [--n 50] [--electrolyte Li2S] [--electrode LiFeO2] [--range 2,3]

(from the repository root). Thermodynamics runs on the CPU only, so there is no --device option.
"""

from __future__ import annotations

import argparse
import time

from pymatgen.core import Composition

from ssbkit.interfaces.entries import ExperimentalSource
from ssbkit.interfaces.phases import PhaseDiagrams
from ssbkit.interfaces.reactions import reaction_profile
from ssbkit.interfaces.screening import screen_candidates
from ssbkit.interfaces.stability import stability_window

COATING_CATIONS = {"Li", "B", "Al", "Si", "Ti", "Zr", "Nb", "Ta", "W", "Mo", "Mg", "Zn", "La", "Y", "P"}


def pick_candidates(entries, n: int, exclude: set[str]) -> list[str]:
    """The first ``n`` (alphabetically) oxides of common coating cations in the entry set."""
    formulas = set()
    for entry in entries:
        elements = {str(el) for el in entry.composition.elements}
        if "O" in elements and len(elements) > 1 and elements - {"O"} <= COATING_CATIONS:
            formulas.add(entry.composition.reduced_formula)
    return sorted(formulas - exclude)[:n]


def naive(candidates, electrolyte, electrode, entries, voltage_range):
    """One phase diagram (two when Li-open) per candidate-partner pair and per window.

    Returns the worst reaction energy per candidate and the number of diagrams built."""
    worst = {}
    made: list[PhaseDiagrams] = []

    def fresh() -> PhaseDiagrams:  # a new, empty set of diagrams for every single calculation
        diagrams = PhaseDiagrams(entries)
        made.append(diagrams)
        return diagrams

    for formula in candidates:
        stability_window(formula, fresh())
        energies = []
        for partner in (electrolyte, electrode):
            energies.append(reaction_profile(formula, partner, fresh()).min_reaction_energy_eV_per_atom)
            if Composition(partner).elements != [Composition("Li").elements[0]]:
                for voltage in voltage_range:
                    energies.append(reaction_profile(formula, partner, fresh(), voltage=voltage)
                                    .min_reaction_energy_eV_per_atom)
        worst[Composition(formula).reduced_formula] = min(energies)
    return worst, sum(d.builds for d in made)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--electrolyte", default="Li2S")
    parser.add_argument("--electrode", default="LiFeO2")
    parser.add_argument("--range", default="2,3", help="voltage range LO,HI (V vs Li/Li+)")
    args = parser.parse_args()
    voltage_range = tuple(float(v) for v in args.range.split(","))

    source = ExperimentalSource()
    elements = {str(el) for el in Composition(args.electrolyte + args.electrode).elements} | COATING_CATIONS | {"O"}
    entries = source.get_entries(elements)
    candidates = pick_candidates(entries, args.n, {Composition(args.electrolyte).reduced_formula,
                                                   Composition(args.electrode).reduced_formula})
    print(f"{len(candidates)} candidates from {len(entries)} experimental entries; electrolyte "
          f"{args.electrolyte}, electrode {args.electrode}, Li-open at {voltage_range} V")

    start = time.perf_counter()
    baseline, naive_built = naive(candidates, args.electrolyte, args.electrode, entries, voltage_range)
    naive_s = time.perf_counter() - start

    start = time.perf_counter()
    result = screen_candidates(candidates, args.electrolyte, args.electrode, entries, voltage_range)
    shared_s = time.perf_counter() - start

    mismatch = [row.candidate for row in result.candidates
                if abs(row.worst_reaction_energy_eV_per_atom - baseline[row.candidate]) > 1e-9]
    print(f"naive (one phase diagram per pair, {naive_built} diagrams built): {naive_s:.2f} s")
    print(f"screen_candidates (shared, {result.phase_diagrams_built} diagrams built): {shared_s:.2f} s")
    print(f"speed-up: {naive_s / shared_s:.2f}x; results identical: {not mismatch}")
    if mismatch:
        raise SystemExit(f"results differ for {mismatch}")


if __name__ == "__main__":
    main()
