"""What an entry set cannot tell: caveats on stability windows, reactions and pooled entry sources.

A phase diagram only knows the phases it is given. A chemical subsystem without any compound, or a product
that is a bare element, often means the phases that really form are missing: the computed window is then
wider and the reaction energy less negative than the truth (missing phases can only lower the hull), so
they are bounds. Each check returns :class:`~ssbkit.results.Caveat` objects with the stable codes below;
pooling sources on different energy references is an error instead.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from itertools import combinations
from typing import TYPE_CHECKING

from pymatgen.core import Composition, Element

from ssbkit.errors import InputError
from ssbkit.results import Caveat

if TYPE_CHECKING:
    from pymatgen.entries import Entry

# A chemical subsystem (2+ elements) of the reactants has no compound in the entries: limits and reaction
# energies involving it are bounds (the true window may be narrower, the true reaction energy more negative).
INCOMPLETE_PHASE_SET = "incomplete-phase-set"
# A product is a bare element that is neither a reactant nor Li: the entry set may lack the phases that form.
ELEMENTAL_PRODUCT = "elemental-product"
# Pooled sources hold the same composition (reduced formula, any polymorph) at different energies: the
# entries of the first listed source were kept, the others dropped.
DUPLICATE_COMPOSITION = "duplicate-composition"

FORMATION_REFERENCE_TOL = 0.1  # eV/atom: elemental ground states all within this of 0 -> formation energies
TOTAL_REFERENCE_BELOW = -1.0  # eV/atom: an elemental ground state below this -> total energies
SAME_ENERGY_TOL = 1e-6  # eV/atom: duplicates this close to the kept entry are dropped without a caveat

Formulas = str | Composition | Iterable[str | Composition]


def _compositions(formulas: Formulas) -> list[Composition]:
    items = [formulas] if isinstance(formulas, (str, Composition)) else list(formulas)
    return [Composition(item) if isinstance(item, str) else item for item in items]


def _elements(composition: Composition) -> frozenset[str]:
    return frozenset(str(el) for el in composition.elements)


def _chemsys(elements: Iterable[str]) -> str:
    return "-".join(sorted(elements))


def _and_list(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def phase_set_caveats(formula_or_compositions: Formulas, entries: Iterable[Entry]) -> list[Caveat]:
    """One ``incomplete-phase-set`` caveat per chemical subsystem with no compound in ``entries``.

    Rule: every subset of two or three elements of the reactants' combined element set that holds at least one
    non-metal (O, S, P, N, halogens, ...) is checked, Li-X binaries included; all-metal subsystems (which often
    form no compound at all, e.g. Li-Nb) and quaternaries (rare in any database) are not. A subsystem counts
    as covered when some entry's elements are exactly that subset. A
    reactant's own element set is therefore covered whenever the reactant (or another phase of those
    elements) is in the entries, and flagged when no phase of it is. Pass ``"Li"`` among the reactants for a
    Li-open system. Caveats are sorted by subsystem size, then alphabetically (``Li-Nb``, ``Nb-O``, ``Li-Nb-O``).
    """
    elements = sorted(set().union(*(_elements(c) for c in _compositions(formula_or_compositions))))
    covered = {_elements(entry.composition) for entry in entries if len(entry.composition.elements) >= 2}
    return [Caveat(INCOMPLETE_PHASE_SET, f"no {_chemsys(subset)} compounds in the entries: limits and products "
                                         "involving them are bounds")
            for size in range(2, min(3, len(elements)) + 1) for subset in combinations(elements, size)
            if frozenset(subset) not in covered and not all(Element(symbol).is_metal for symbol in subset)]


def elemental_product_caveats(products: Iterable[str | Composition],
                              reactant_formulas: Formulas) -> list[Caveat]:
    """An ``elemental-product`` caveat if a product is a bare non-metal (O2, S, P, ...) that is not a reactant.

    Metals are the expected products of conversion reactions (LiNbO3 + Li -> Li2O + Nb) and Li is the
    reservoir of Li-open systems; a bare non-metal from a compound (O2 from an oxide, S or P from a
    thiophosphate) often means the entry set lacks the phases that form instead. All such elements go into one caveat, alphabetically; none: ``[]``.
    """
    reactants = {_elements(c) for c in _compositions(reactant_formulas) if len(c.elements) == 1}
    bare = sorted({symbol for c in _compositions(products) if len(c.elements) == 1
                   for symbol in _elements(c)
                   if not Element(symbol).is_metal and frozenset({symbol}) not in reactants})
    if not bare:
        return []
    return [Caveat(ELEMENTAL_PRODUCT, f"decomposes to bare {_and_list(bare)}: the entry set may lack the phases "
                                      "that form instead")]


def energy_reference(entries: Iterable[Entry]) -> str | None:
    """``"formation"`` (elemental ground states at ~0 eV/atom), ``"total"`` (one below -1 eV/atom) or None.

    None when there is no elemental entry or the ground states fit neither pattern.
    """
    lowest: dict[str, float] = {}
    for entry in entries:
        if entry.is_element:
            symbol = str(entry.composition.elements[0])
            lowest[symbol] = min(lowest.get(symbol, entry.energy_per_atom), entry.energy_per_atom)
    if any(energy < TOTAL_REFERENCE_BELOW for energy in lowest.values()):
        return "total"
    if lowest and all(abs(energy) <= FORMATION_REFERENCE_TOL for energy in lowest.values()):
        return "formation"
    return None


def check_energy_references(entries_by_source: Sequence[tuple[str, Sequence[Entry]]]) -> None:
    """InputError if one source has formation energies and another total energies (see :func:`energy_reference`)."""
    classified = [(name, kind) for name, entries in entries_by_source if (kind := energy_reference(entries))]
    for name, kind in classified[1:]:
        if kind != classified[0][1]:
            raise InputError(f"sources {classified[0][0]} and {name} use different energy references "
                             f"({classified[0][1]} vs {kind} energies)")


def pool_entries(entries_by_source: Sequence[tuple[str, Sequence[Entry]]]
                 ) -> tuple[list[Entry], dict[str, Caveat]]:
    """Pool the entries of several sources, listed in priority order.

    Sources on different energy references are an InputError (:func:`check_energy_references`). A
    composition (reduced formula, any polymorph) held by several sources keeps the entries of the first
    listed one; the others are dropped, with a ``duplicate-composition`` caveat unless their lowest energy
    per atom equals the kept one (identical copies, such as shared elemental references, lose nothing).
    Returns the pooled entries and the caveats keyed by the reduced formula they are about.
    """
    check_energy_references(entries_by_source)
    holders: dict[str, list[int]] = {}  # reduced formula -> indices of the sources holding it, in order
    lowest: dict[tuple[str, int], float] = {}  # (reduced formula, source index) -> lowest eV/atom
    for index, (_, entries) in enumerate(entries_by_source):
        for entry in entries:
            formula = entry.composition.reduced_formula
            if index not in holders.setdefault(formula, []):
                holders[formula].append(index)
            key = (formula, index)
            lowest[key] = min(lowest.get(key, entry.energy_per_atom), entry.energy_per_atom)
    pooled = [entry for index, (_, entries) in enumerate(entries_by_source) for entry in entries
              if holders[entry.composition.reduced_formula][0] == index]
    caveats = {}
    for formula, indices in sorted(holders.items()):
        kept = lowest[formula, indices[0]]
        if any(abs(lowest[formula, i] - kept) > SAME_ENERGY_TOL for i in indices[1:]):
            names = [entries_by_source[i][0] for i in indices]
            caveats[formula] = Caveat(DUPLICATE_COMPOSITION, f"{formula} from {_and_list(names)}: kept {names[0]} "
                                                             "(first listed)")
    return pooled, caveats


def pooling_caveats(source: object, elements: Collection[str]) -> list[Caveat]:
    """The ``duplicate-composition`` caveats a pooled source recorded within ``elements`` ([] for others).

    Any source may offer them through a ``caveats_within(elements)`` method, as
    :class:`~ssbkit.interfaces.entries.CombinedSource` does.
    """
    caveats_within = getattr(source, "caveats_within", None)
    return list(caveats_within(elements)) if caveats_within is not None else []


def thermo_caveats(reactants: Formulas, products: Iterable[str | Composition], entries: Iterable[Entry],
                   source: object = None) -> list[Caveat]:
    """Every caveat of one result: pooled duplicates, missing subsystems and bare-element products, in that
    order without repeats. ``entries``: the phase diagram's entries; ``source``: the entry source behind it."""
    reactants = _compositions(reactants)
    elements = set().union(*(_elements(c) for c in reactants))
    found = (pooling_caveats(source, elements) + phase_set_caveats(reactants, entries)
             + elemental_product_caveats(products, reactants))
    return list(dict.fromkeys(found))
