"""Screening at scale: ``screen_candidates`` against a naive loop of plain pymatgen, 10 / 50 / 200 candidates.

The naive loop computes the same table per candidate the way a pymatgen script would: for every candidate a
PhaseDiagram of candidate + Li for its stability window (Li element profile) and energy above hull, and for
every candidate-partner pair a PhaseDiagram and an InterfacialReactivity (closed), plus a PhaseDiagram,
GrandPotentialPhaseDiagram and GrandPotentialInterfacialReactivity per voltage (Li-open). Both use pymatgen's
experimental formation enthalpies, loaded before the clocks start. The script asserts that both give the same
table (energies and voltages within 1e-9, the same worst reaction) and prints the times and their ratio.

``screen_candidates`` builds each chemical system's convex hull once with qhull on the same input as pymatgen
(``ssbkit.interfaces.hulls``) and reads hull energies, kinks and voltage steps from it in numpy; pymatgen
balances only the printed worst reaction when its last digit sits at a rounding tie.

    python -m benchmarks.screening_scale [--sizes 10,50,200] [--electrolyte Li2S] [--electrode LiFeO2] [--range 2,3]
                                         [--repeat 2]

Thermodynamics runs on the CPU only. Target: >= 10x at 200 candidates.
"""

from __future__ import annotations

import argparse
import gc
import math
import time
import warnings

from pymatgen.analysis.interface_reactions import GrandPotentialInterfacialReactivity, InterfacialReactivity
from pymatgen.analysis.phase_diagram import GrandPotentialPhaseDiagram, PhaseDiagram
from pymatgen.core import Composition, Element

from ssbkit.interfaces.entries import ExperimentalSource
from ssbkit.interfaces.screening import screen_candidates

LI = Element("Li")
TOLERANCE = 1e-9  # eV/atom and V
#: The columns both paths compute, compared one by one.
COLUMNS = ("energy_above_hull_eV_per_atom", "reduction_limit_V", "oxidation_limit_V", "electrolyte_closed_eV_per_atom",
           "electrode_closed_eV_per_atom", "electrolyte_open_low_eV_per_atom", "electrolyte_open_high_eV_per_atom",
           "electrode_open_low_eV_per_atom", "electrode_open_high_eV_per_atom", "worst_reaction_energy_eV_per_atom")


def pick_candidates(entries, n: int, exclude: set[str]) -> list[str]:
    """``n`` oxides spread evenly over the alphabetical list of the entry set's oxides (at most 30 atoms of
    one element per formula unit)."""
    oxides = sorted({e.composition.reduced_formula for e in entries
                     if Element("O") in e.composition and len(e.composition) > 1
                     and max(e.composition.reduced_composition.values()) <= 30} - exclude)
    if n > len(oxides):
        raise SystemExit(f"only {len(oxides)} oxides in the entry set")
    return [oxides[i * len(oxides) // n] for i in range(n)]


def _within(entries, compositions) -> list:
    allowed = {el for c in compositions for el in c.elements}
    return [e for e in entries if set(e.composition.elements) <= allowed]


def _min_kink(reactivity) -> tuple[float, str]:
    kinks = reactivity.get_kinks()
    lowest = min(kinks, key=lambda kink: kink[2])
    return (0.0 if abs(lowest[2]) < 1e-10 else float(lowest[2])), str(lowest[3])


def naive_row(formula: str, partners: dict[str, Composition], entries, voltages: tuple[float, float]) -> dict:
    """One candidate's table row with plain pymatgen, one diagram per calculation."""
    comp = Composition(formula)
    diagram = PhaseDiagram(_within(entries, [comp, Composition("Li")]))
    mu_li = diagram.el_refs[LI].energy_per_atom
    profile = diagram.get_element_profile(LI, comp)
    volts = [max(0.0, mu_li - step["chempot"]) for step in profile]
    steps = [(v, step["evolution"]) for index, (v, step) in enumerate(zip(volts, profile))
             if (volts[index + 1] if index + 1 < len(volts) else math.inf) - v > 1e-9]
    reduction = next(v for v, uptake in steps if uptake <= 1e-6)
    oxidation = next((v for v, uptake in steps if uptake < -1e-6), math.inf)
    own = [e for e in diagram.all_entries if e.composition.reduced_composition == comp.reduced_composition]
    e_hull = (float(diagram.get_e_above_hull(min(own, key=lambda e: e.energy_per_atom), allow_negative=True))
              if own else None)
    row = {"energy_above_hull_eV_per_atom": e_hull, "reduction_limit_V": reduction, "oxidation_limit_V": oxidation}
    worst = (0.0, "")
    for role, partner in partners.items():
        closed = PhaseDiagram(_within(entries, [comp, partner]))
        energy, reaction = _min_kink(InterfacialReactivity(comp, partner, closed, norm=True, use_hull_energy=True))
        row[f"{role}_closed_eV_per_atom"] = energy
        worst = min(worst, (energy, reaction), key=lambda found: found[0])
        for end, voltage in zip(("low", "high"), voltages, strict=True):
            with_li = PhaseDiagram(_within(entries, [comp, partner, Composition("Li")]))
            grand = GrandPotentialPhaseDiagram(with_li.all_entries, {LI: with_li.el_refs[LI].energy_per_atom - voltage})
            energy, reaction = _min_kink(GrandPotentialInterfacialReactivity(
                comp, partner, grand, with_li, include_no_mixing_energy=False, norm=True, use_hull_energy=True))
            row[f"{role}_open_{end}_eV_per_atom"] = energy
            worst = min(worst, (energy, reaction), key=lambda found: found[0])
    row["worst_reaction_energy_eV_per_atom"] = worst[0]
    row["worst_reaction"] = worst[1]
    return row


def naive_table(candidates, partners, entries, voltages) -> dict[str, dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {Composition(f).reduced_formula: naive_row(f, partners, entries, voltages) for f in candidates}


def differences(result, table: dict[str, dict]) -> list[str]:
    """Where ``screen_candidates``' rows differ from the naive table."""
    found = []
    for row in result.candidates:
        expected = table[row.candidate]
        for column in COLUMNS:
            ours, theirs = getattr(row, column), expected[column]
            if (ours is None) != (theirs is None) or (ours is not None and not (
                    ours == theirs or abs(ours - theirs) <= TOLERANCE)):
                found.append(f"{row.candidate} {column}: {ours} vs {theirs}")
        if expected["worst_reaction"] and not row.worst_reaction.endswith(expected["worst_reaction"]):
            found.append(f"{row.candidate} worst reaction: {row.worst_reaction!r} vs {expected['worst_reaction']!r}")
    return found


def timed(repeat: int, function, *args):
    """The shortest CPU time (s) of ``repeat`` calls (the machine may be shared) and the last call's result."""
    best = math.inf
    for _ in range(repeat):
        gc.collect()
        start = time.process_time()
        result = function(*args)
        best = min(best, time.process_time() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10,50,200")
    parser.add_argument("--electrolyte", default="Li2S")
    parser.add_argument("--electrode", default="LiFeO2")
    parser.add_argument("--range", default="2,3", help="voltage range LO,HI (V vs Li/Li+)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each path; the shortest counts")
    args = parser.parse_args()
    voltages = tuple(float(v) for v in args.range.split(","))
    partners = {"electrolyte": Composition(args.electrolyte), "electrode": Composition(args.electrode)}

    source = ExperimentalSource()
    entries = source.get_entries([el.symbol for el in Element])
    print(f"experimental entries: {len(entries)}; electrolyte {args.electrolyte}, electrode {args.electrode}, "
          f"Li-open at {voltages} V; CPU seconds (process time, shortest of {args.repeat} runs)")
    print(f"{'candidates':>10} {'naive (s)':>10} {'ssbkit (s)':>11} {'speed-up':>9} {'identical':>10}")
    for size in (int(s) for s in args.sizes.split(",")):
        candidates = pick_candidates(entries, size, {c.reduced_formula for c in partners.values()})
        naive_s, table = timed(args.repeat, naive_table, candidates, partners, entries, voltages)
        ours_s, result = timed(args.repeat, screen_candidates, candidates, args.electrolyte, args.electrode, source,
                               voltages)
        mismatch = differences(result, table)
        print(f"{size:>10} {naive_s:10.2f} {ours_s:11.2f} {naive_s / ours_s:8.1f}x {not mismatch!s:>10}", flush=True)
        if mismatch:
            raise SystemExit("results differ:\n" + "\n".join(mismatch[:20]))


if __name__ == "__main__":
    main()
