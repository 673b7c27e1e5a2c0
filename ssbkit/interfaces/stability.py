"""Electrochemical stability windows vs Li/Li+ from the Li grand-potential phase diagram.

Method of Richards et al. (Chem. Mater. 28, 266, 2016) and Zhu, He, Mo (ACS AMI 7, 23685, 2015): the
composition is equilibrated with a Li reservoir at chemical potential ``mu_Li = mu_Li(metal) - eV``; at each
voltage it decomposes into the phases of the Li-open hull, taking up Li (reduction) or releasing it
(oxidation). The window is the voltage range over which it exchanges no Li. A compound above the hull is
analysed at its composition (what it decomposes into) and flagged with its decomposition energy.
:func:`window_limits` gives the same limits from the numpy hulls of ``ssbkit.interfaces.hulls``, for screening.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pymatgen.core import Composition
from pymatgen.entries import Entry

from ssbkit.errors import InputError
from ssbkit.interfaces.entries import EntrySource
from ssbkit.interfaces.hulls import li_profile
from ssbkit.interfaces.phases import LI, LI_METAL, PhaseDiagrams, elements_of, parse_formula
from ssbkit.interfaces.validity import thermo_caveats
from ssbkit.plotting import formula_label, image_path, save_figure
from ssbkit.results import Caveat, Result

LI_EXCHANGE_TOL = 1e-6  # Li per formula unit below which a step counts as exchanging no Li
ABOVE_HULL_TOL = 1e-6  # eV/atom above which a phase is flagged as above the hull


@dataclass
class VoltageStep(Result):
    """One voltage interval (V vs Li/Li+) of the Li-open decomposition profile, with the Li taken up per
    formula unit over it."""

    voltage_min_V: float
    voltage_max_V: float  # inf (null in JSON) for the last, highest step
    li_uptake_per_formula_unit: float  # > 0: takes up Li (reduction); < 0: releases Li (oxidation)
    products: list[str]
    reaction: str


@dataclass
class StabilityWindow(Result):
    """Electrochemical stability window of one composition, voltages in V vs Li/Li+."""

    formula: str
    source: str
    reduction_limit_V: float  # 0.0: stable against Li metal
    oxidation_limit_V: float  # inf (null in JSON): releases no Li at any voltage (no Li in it)
    reduction_products: list[str]  # phases just below the window ([] if stable against Li metal)
    oxidation_products: list[str]  # phases just above the window ([] if it never oxidises by Li release)
    profile: list[VoltageStep]
    energy_above_hull_eV_per_atom: float | None  # None if no entry has this composition
    above_hull: bool | None  # None if no entry has this composition (stability of the phase unknown)
    hull_decomposition: list[str] = field(default_factory=list)  # hull phases at this composition
    caveats: list[Caveat] = field(default_factory=list)  # what the entry set cannot tell (ssbkit.interfaces.validity)

    def covers(self, low_V: float, high_V: float) -> bool:
        """Whether the window contains the whole range [low_V, high_V]."""
        return bool(self.reduction_limit_V <= low_V and high_V <= self.oxidation_limit_V)


def stability_window(formula: str, entries: PhaseDiagrams | EntrySource | Iterable[Entry], *,
                     hypothetical: bool = False) -> StabilityWindow:
    """Stability window of ``formula`` vs Li/Li+ with the decomposition products at every voltage step.

    A formula with no entry of its own is an InputError unless ``hypothetical=True``: then it is analysed
    at its composition as if it were a phase on the hull (E_hull unknown, ``above_hull`` None).
    """
    composition = parse_formula(formula)
    elements = elements_of(composition)
    if elements == {"Li"}:
        raise InputError("Li metal is the reference electrode; it has no stability window vs Li/Li+")
    diagrams = PhaseDiagrams.of(entries)
    diagram = diagrams.closed(elements | {"Li"})
    same_composition = [e for e in diagram.all_entries
                        if e.composition.reduced_composition == composition.reduced_composition]
    if not same_composition and not hypothetical:
        raise InputError(f"{composition.reduced_formula} has no entry in {diagrams.source_name}; give "
                         "--hypothetical (hypothetical=True) to treat it as a phase on the hull")
    mu_li_metal = diagram.el_refs[LI].energy_per_atom

    profile_data = diagram.get_element_profile(LI, composition)
    voltages = [max(0.0, float(mu_li_metal - step["chempot"])) for step in profile_data]
    steps = []
    for index, step in enumerate(profile_data):
        upper = voltages[index + 1] if index + 1 < len(profile_data) else math.inf
        if upper - voltages[index] <= 1e-9:
            continue  # zero-width step at a degenerate critical chemical potential
        steps.append(VoltageStep(
            voltage_min_V=voltages[index], voltage_max_V=upper,
            li_uptake_per_formula_unit=0.0 if abs(step["evolution"]) < LI_EXCHANGE_TOL else float(step["evolution"]),
            products=sorted({entry.composition.reduced_formula for entry in step["entries"]}),
            reaction=str(step["reaction"])))

    first_no_uptake = next(i for i, s in enumerate(steps) if s.li_uptake_per_formula_unit <= LI_EXCHANGE_TOL)
    first_release = next((i for i, s in enumerate(steps) if s.li_uptake_per_formula_unit < -LI_EXCHANGE_TOL),
                         None)
    reduction_limit = steps[first_no_uptake].voltage_min_V
    oxidation_limit = steps[first_release].voltage_min_V if first_release is not None else math.inf

    if same_composition:
        lowest = min(same_composition, key=lambda e: e.energy_per_atom)
        e_above_hull: float | None = float(diagram.get_e_above_hull(lowest, allow_negative=True))
    else:
        e_above_hull = None
    hull_decomposition = sorted(entry.composition.reduced_formula for entry in diagram.get_decomposition(composition))
    reduction_products = steps[first_no_uptake - 1].products if first_no_uptake > 0 else []
    oxidation_products = steps[first_release].products if first_release is not None else []

    return StabilityWindow(
        formula=composition.reduced_formula,
        source=diagrams.source_name,
        reduction_limit_V=reduction_limit,
        oxidation_limit_V=oxidation_limit,
        reduction_products=reduction_products,
        oxidation_products=oxidation_products,
        profile=steps,
        energy_above_hull_eV_per_atom=e_above_hull,
        above_hull=None if e_above_hull is None else e_above_hull > ABOVE_HULL_TOL,
        hull_decomposition=hull_decomposition,
        caveats=thermo_caveats([composition, "Li"], reduction_products + oxidation_products + hull_decomposition,
                               diagram.all_entries, diagrams.source),
    )


@dataclass
class WindowLimits:
    """The limits of a stability window (V vs Li/Li+) with its energy above hull (eV/atom) and caveats, equal
    to :func:`stability_window`'s, from the numpy hulls (screening's fast path)."""

    formula: str
    reduction_limit_V: float
    oxidation_limit_V: float  # inf: releases no Li at any voltage
    energy_above_hull_eV_per_atom: float | None  # None if no entry has this composition
    caveats: list[Caveat]

    covers = StabilityWindow.covers


def window_limits(formula: str | Composition, diagrams: PhaseDiagrams) -> WindowLimits:
    """:func:`stability_window`'s limits, energy above hull and caveats for ``formula`` analysed as
    ``hypothetical=True`` does, computed on numpy hulls without building pymatgen diagrams."""
    composition = parse_formula(formula) if isinstance(formula, str) else formula
    elements = elements_of(composition)
    if elements == {"Li"}:
        raise InputError("Li metal is the reference electrode; it has no stability window vs Li/Li+")
    hull = diagrams.hull(elements | {"Li"})
    amounts = {el.symbol: amount for el, amount in composition.items()}
    mu_li_metal = hull.el_refs["Li"]
    profile = li_profile(hull, amounts)
    voltages = [max(0.0, float(mu_li_metal - step.chempot)) for step in profile]
    steps = []  # (voltage_min, Li uptake, products) of the steps with a width
    for index, step in enumerate(profile):
        upper = voltages[index + 1] if index + 1 < len(profile) else math.inf
        if upper - voltages[index] > 1e-9:
            steps.append((voltages[index], 0.0 if abs(step.li_uptake) < LI_EXCHANGE_TOL else step.li_uptake,
                          step.products))
    first_no_uptake = next(i for i, s in enumerate(steps) if s[1] <= LI_EXCHANGE_TOL)
    first_release = next((i for i, s in enumerate(steps) if s[1] < -LI_EXCHANGE_TOL), None)

    def formulas(phases: tuple[int, ...]) -> list[str]:
        return sorted({hull.formulas[v] for v in phases})

    same_composition = hull.entries_with({el.symbol: a for el, a in composition.reduced_composition.items()})
    fractions = hull.fractions_of(amounts)
    if same_composition:
        lowest = min(same_composition, key=lambda e: e.energy_per_atom)
        e_above_hull: float | None = (0.0 if id(lowest) in hull.stable else float(
            lowest.energy_per_atom - hull.energy_per_atom(hull.fractions_of(hull.amounts(lowest)))))
    else:
        e_above_hull = None
    products = ((formulas(steps[first_no_uptake - 1][2]) if first_no_uptake > 0 else [])
                + (formulas(steps[first_release][2]) if first_release is not None else [])
                + sorted(hull.formulas[v] for v, _ in hull.decomposition(fractions)))
    return WindowLimits(
        formula=composition.reduced_formula, reduction_limit_V=steps[first_no_uptake][0],
        oxidation_limit_V=steps[first_release][0] if first_release is not None else math.inf,
        energy_above_hull_eV_per_atom=e_above_hull,
        caveats=diagrams.caveats([composition, LI_METAL], products))


def plot_window(window: StabilityWindow, path: str | Path) -> Path:
    """Save the Li uptake per formula unit vs voltage (V vs Li/Li+), the window shaded, as an image."""
    from matplotlib.figure import Figure

    path = image_path(path)
    finite_top = max([s.voltage_min_V for s in window.profile] + [window.reduction_limit_V]) + 1.0
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    for step in window.profile:
        top = min(step.voltage_max_V, finite_top)
        ax.plot([step.voltage_min_V, top], [step.li_uptake_per_formula_unit] * 2, color="k")
        ax.annotate(formula_label(" + ".join(step.products)),
                    ((step.voltage_min_V + top) / 2, step.li_uptake_per_formula_unit),
                    xytext=(0, 3), textcoords="offset points", fontsize=8, ha="center", va="bottom")
    ax.axvspan(window.reduction_limit_V, min(window.oxidation_limit_V, finite_top), color="tab:green", alpha=0.2,
               label="stability window")
    ax.set_xlim(0, finite_top)
    ax.margins(y=0.15)
    ax.set_xlabel("Voltage (V vs Li/Li$^+$)")
    ax.set_ylabel("Li taken up per formula unit")
    ax.set_title(f"{formula_label(window.formula)} stability window: {window.reduction_limit_V:.2f}-"
                 f"{window.oxidation_limit_V:.2f} V vs Li/Li$^+$ ({window.source})", fontsize=10)
    ax.legend(loc="best")
    return save_figure(fig, path, dpi=150)
