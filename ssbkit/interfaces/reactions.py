"""Interface reaction energies vs mixing ratio (pymatgen's InterfacialReactivity underneath).

The mixture is ``x A + (1 - x) B`` per atom (pymatgen's convention: ``x`` is the atomic fraction of reactant
A). The reaction energy at ``x`` is the hull energy of the mixture minus the reactants' energies, in eV per
atom of mixture.

Both modes count only the reaction *between* the two reactants: each reactant sits at its hull energy,
so an above-hull reactant's own decomposition (its ``energy_above_hull``, reported by
:func:`~ssbkit.interfaces.stability.stability_window` and by screening) is not counted again as reactivity
with every partner.

- Closed system: total energies per atom.
- Li-open at ``voltage`` (V vs Li/Li+): grand-potential energies per atom of non-Li elements, so the energy
  excludes each reactant's own lithiation or delithiation at that voltage (the stability window's job).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pymatgen.analysis.interface_reactions import GrandPotentialInterfacialReactivity, InterfacialReactivity
from pymatgen.entries import Entry

from ssbkit.errors import InputError
from ssbkit.interfaces.entries import EntrySource
from ssbkit.interfaces.phases import PhaseDiagrams, check_voltage, elements_of, parse_formula
from ssbkit.interfaces.validity import thermo_caveats
from ssbkit.plotting import formula_label, image_path, save_figure
from ssbkit.results import Caveat, Result


@dataclass
class ReactionKink(Result):
    """A mixing ratio ``x`` (atomic fraction of reactant A) where the reaction products change, with the
    reaction energy there (eV/atom)."""

    x: float  # atomic fraction of reactant A
    energy_eV_per_atom: float
    reaction: str


@dataclass
class ReactionProfile(Result):
    """Reaction energy of two reactants vs mixing ratio."""

    reactants: list[str]
    source: str
    voltage_V: float | None  # None: closed system; else Li-open at this voltage vs Li/Li+
    min_reaction_energy_eV_per_atom: float
    mixing_ratio: float  # x at the most negative reaction energy
    reaction: str  # the reaction at that x
    products: list[str]  # its products
    profile: list[ReactionKink]
    caveats: list[Caveat] = field(default_factory=list)  # what the entry set cannot tell (ssbkit.interfaces.validity)


def _clean(energy: float) -> float:
    """Round floating-point noise (|E| < 1e-10 eV/atom) to exactly zero."""
    return 0.0 if abs(energy) < 1e-10 else energy


def reaction_profile(reactant_a: str, reactant_b: str, entries: PhaseDiagrams | EntrySource | Iterable[Entry],
                     voltage: float | None = None) -> ReactionProfile:
    """Reaction energy of ``reactant_a`` with ``reactant_b`` at every kink, closed or Li-open at ``voltage``
    (V vs Li/Li+, finite, within ``ssbkit.interfaces.phases.VOLTAGE_RANGE_V``)."""
    comp_a, comp_b = parse_formula(reactant_a), parse_formula(reactant_b)
    if voltage is not None:
        voltage = check_voltage(voltage)
    if comp_a.reduced_composition == comp_b.reduced_composition:
        raise InputError(f"identical reactants {reactant_a!r} and {reactant_b!r}: nothing to react")
    diagrams = PhaseDiagrams.of(entries)
    elements = elements_of(comp_a, comp_b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen's notes on hull energies and grand potentials
        if voltage is None:
            reactants = [comp_a, comp_b]
            reactivity = InterfacialReactivity(comp_a, comp_b, diagrams.closed(elements), norm=True,
                                               use_hull_energy=True)
        else:
            for formula, comp in ((reactant_a, comp_a), (reactant_b, comp_b)):
                if elements_of(comp) == {"Li"}:
                    raise InputError(f"{formula} is pure Li, the open element at a fixed voltage; "
                                     "react it in the closed system (no --voltage)")
            reactants = [comp_a, comp_b, parse_formula("Li")]  # Li-open: the reservoir takes part
            reactivity = GrandPotentialInterfacialReactivity(
                comp_a, comp_b, diagrams.li_open(elements, voltage), diagrams.closed(elements | {"Li"}),
                include_no_mixing_energy=False, norm=True, use_hull_energy=True)
        raw_kinks = reactivity.get_kinks()
    kinks = [ReactionKink(x=min(max(float(x), 0.0), 1.0), energy_eV_per_atom=_clean(float(energy)),
                          reaction=str(reaction)) for _, x, energy, reaction, _ in raw_kinks]
    lowest = min(range(len(kinks)), key=lambda i: kinks[i].energy_eV_per_atom)
    products = sorted(c.reduced_formula for c in raw_kinks[lowest][3].products)
    return ReactionProfile(
        reactants=[comp_a.reduced_formula, comp_b.reduced_formula],
        source=diagrams.source_name,
        voltage_V=voltage,
        min_reaction_energy_eV_per_atom=kinks[lowest].energy_eV_per_atom,
        mixing_ratio=kinks[lowest].x,
        reaction=kinks[lowest].reaction,
        products=products,
        profile=kinks,
        caveats=thermo_caveats(reactants, products, diagrams.closed(elements_of(*reactants)).all_entries,
                               diagrams.source),
    )


def plot_reaction(profile: ReactionProfile, path: str | Path) -> Path:
    """Save reaction energy (eV/atom) vs mixing ratio, kinks marked and the minimum labelled, as an image."""
    from matplotlib.figure import Figure

    path = image_path(path)
    a, b = profile.reactants
    xs = [k.x for k in profile.profile]
    energies = [k.energy_eV_per_atom for k in profile.profile]
    fig = Figure(figsize=(6.4, 4.6), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(xs, energies, "o-", color="tab:blue", label="kinks")
    ax.plot([profile.mixing_ratio], [profile.min_reaction_energy_eV_per_atom], "*", color="tab:red", ms=12,
            label=f"most negative: {formula_label(profile.reaction)}")
    ax.axhline(0.0, color="grey", lw=0.5)
    ax.margins(y=0.1)
    ax.set_xlabel(f"x in x {formula_label(a)} + (1-x) {formula_label(b)} (atomic fraction)")
    ax.set_ylabel("Reaction energy (eV/atom)")
    where = "closed" if profile.voltage_V is None else f"Li-open at {profile.voltage_V:g} V vs Li/Li$^+$"
    ax.set_title(f"{formula_label(a)} | {formula_label(b)} reaction, {where} ({profile.source})", fontsize=10)
    fig.legend(loc="outside lower center", fontsize=8, frameon=False)
    return save_figure(fig, path, dpi=150)
