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

:func:`reaction_minimum` gives the same minimum, products and reaction from the numpy hulls of
``ssbkit.interfaces.hulls`` (no pymatgen diagram per call), for screening many candidates.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pymatgen.analysis.interface_reactions import GrandPotentialInterfacialReactivity, InterfacialReactivity
from pymatgen.analysis.reaction_calculator import Reaction
from pymatgen.core import Composition
from pymatgen.entries import Entry

from ssbkit.errors import InputError
from ssbkit.interfaces.entries import EntrySource
from ssbkit.interfaces.hulls import Hull, Kink, reaction_kinks
from ssbkit.interfaces.phases import LI_METAL, PhaseDiagrams, check_voltage, elements_of, parse_formula
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


ROUNDING_TIE = 1e-9  # relative: a coefficient this close to a 4-digit rounding boundary is balanced by pymatgen


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


@dataclass
class ReactionMinimum:
    """The most negative reaction energy of two reactants (eV/atom) from the numpy hulls, equal to
    :func:`reaction_profile`'s minimum; the balanced reaction is written on request (``reaction``)."""

    reactants: list[str]
    voltage_V: float | None
    min_reaction_energy_eV_per_atom: float
    products: list[str]  # phases formed at the minimum (reduced formulas, sorted; not the Li reservoir)
    caveats: list[Caveat]
    _compositions: tuple[Composition, Composition]
    _hull: Hull
    _kink: Kink

    @property
    def reaction(self) -> str:
        """The balanced reaction at the minimum, as pymatgen's InterfacialReactivity writes it."""
        comp_a, comp_b = self._compositions
        if np.isclose(self._kink.x, 0):
            reactants = [comp_b]
        elif np.isclose(self._kink.x, 1):
            reactants = [comp_a]
        else:
            reactants = list({comp_a, comp_b})
        if self.voltage_V is not None:
            reactants.append(LI_METAL)
        products = [Composition(self._hull.hull_entries[v].name) for v in self._kink.products]
        if {r.reduced_formula for r in reactants} & {p.reduced_formula for p in products}:
            return _pymatgen_reaction(comp_a, comp_b, reactants, products)

        def atoms(composition: Composition) -> float:  # atoms of the hull's elements per formula unit
            return sum(abs(a) for el, a in composition.items() if self.voltage_V is None or el.symbol != "Li")

        x = self._kink.x
        units = {id(comp_a): x / atoms(comp_a), id(comp_b): (1 - x) / atoms(comp_b)}
        reactant_units = [units[id(r)] for r in reactants if r is not LI_METAL]
        product_units = [a / atoms(p) for a, p in zip(self._kink.amounts, products, strict=True)]
        scale = 1 / sum(reactant_units)  # the reactants' formula units add up to one, as pymatgen normalises
        coefficients = [-u * scale for u in reactant_units]
        if self.voltage_V is not None:  # Li from the reservoir: a reactant when taken up
            li_taken = (sum(u * p["Li"] for u, p in zip(product_units, products, strict=True))
                        - sum(units[id(r)] * r["Li"] for r in reactants if r is not LI_METAL))
            coefficients.append(-li_taken * scale)
        coefficients += [u * scale for u in product_units]
        compositions = reactants + products
        written = [c * comp.get_reduced_formula_and_factor()[1] for c, comp in zip(coefficients, compositions,
                                                                                 strict=True)]
        if any(f"{w * (1 - ROUNDING_TIE):.4g}" != f"{w * (1 + ROUNDING_TIE):.4g}" for w in written):
            return _pymatgen_reaction(comp_a, comp_b, reactants, products)  # its last digit is pymatgen's call
        return Reaction._str_from_comp(coefficients, compositions)[0]


def _pymatgen_reaction(comp_a: Composition, comp_b: Composition, reactants: list[Composition],
                       products: list[Composition]) -> str:
    """pymatgen's balanced reaction (InterfacialReactivity._get_reaction): for products that repeat a reactant
    and coefficients whose printed last digit depends on its least-squares round-off."""
    reaction = Reaction(reactants, products)
    coeff_a = reaction.get_coeff(comp_a) if comp_a in reaction.reactants else 0
    coeff_b = reaction.get_coeff(comp_b) if comp_b in reaction.reactants else 0
    x_original = coeff_a / (coeff_a + coeff_b)
    if np.isclose(x_original, 1):
        reaction.normalize_to(comp_a, x_original)
    else:
        reaction.normalize_to(comp_b, 1 - x_original)
    return str(reaction)


def reaction_minimum(reactant_a: str | Composition, reactant_b: str | Composition, diagrams: PhaseDiagrams,
                     voltage: float | None = None) -> ReactionMinimum:
    """The most negative reaction energy of ``reactant_a`` with ``reactant_b`` over mixing ratio, closed or
    Li-open at ``voltage`` (V vs Li/Li+), computed on numpy hulls: the same numbers, products and reaction as
    :func:`reaction_profile` at its minimum, without building pymatgen diagrams (screening's fast path)."""
    comp_a, comp_b = (parse_formula(r) if isinstance(r, str) else r for r in (reactant_a, reactant_b))
    elements = elements_of(comp_a, comp_b)
    if voltage is None:
        reactants = [comp_a, comp_b]
        hull = diagrams.hull(elements)
    else:
        reactants = [comp_a, comp_b, LI_METAL]
        hull = diagrams.li_open_hull(elements, voltage)
    kinks = reaction_kinks(hull, {el.symbol: amount for el, amount in comp_a.items()},
                           {el.symbol: amount for el, amount in comp_b.items()})
    energies = [_clean(kink.energy) for kink in kinks]
    lowest = kinks[energies.index(min(energies))]
    products = sorted(hull.name_formula(v) for v in lowest.products)
    return ReactionMinimum(
        reactants=[comp_a.reduced_formula, comp_b.reduced_formula], voltage_V=voltage,
        min_reaction_energy_eV_per_atom=min(energies), products=products,
        caveats=diagrams.caveats(reactants, products), _compositions=(comp_a, comp_b), _hull=hull, _kink=lowest)


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
