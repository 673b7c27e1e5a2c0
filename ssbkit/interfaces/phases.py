"""Phase diagrams built once per chemical system from an entry source or an entry list.

Voltages are V vs Li/Li+: ``mu_Li = mu_Li(metal) - e*V``, with ``mu_Li(metal)`` the energy per atom of the
lowest Li entry, so 0 V is equilibrium with Li metal. Voltages given to the analyses must be finite and
within ``VOLTAGE_RANGE_V`` (0 to 10 V vs Li/Li+): below 0 V Li metal plates, above 10 V no electrolyte exists.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Collection, Iterable, Mapping, Sequence

from pymatgen.analysis.phase_diagram import GrandPotentialPhaseDiagram, PhaseDiagram
from pymatgen.core import Composition, Element
from pymatgen.entries import Entry

from ssbkit.errors import DataError, InputError
from ssbkit.interfaces.entries import EntryIndex, EntrySource, check_energies, chemsys_of, entries_within
from ssbkit.interfaces.hulls import EntryData, EntryTable, Hull, entry_data
from ssbkit.interfaces.validity import elemental_product_caveats, thermo_caveats
from ssbkit.results import Caveat

LI = Element("Li")
LI_METAL = Composition("Li")  # the Li reservoir as a reactant
VOLTAGE_RANGE_V = (0.0, 10.0)  # allowed voltages, V vs Li/Li+
MAX_AMOUNT = 1000  # largest amount of one element in a formula
MAX_ATOMS_PER_FORMULA = 10_000  # largest formula unit (atoms)


def check_voltage(voltage: float, what: str = "voltage") -> float:
    """``voltage`` as a float; InputError unless it is finite and within ``VOLTAGE_RANGE_V`` (V vs Li/Li+)."""
    try:
        value = float(voltage)
    except (TypeError, ValueError):
        raise InputError(f"{what} {voltage!r} is not a number (V vs Li/Li+)") from None
    low, high = VOLTAGE_RANGE_V
    if not math.isfinite(value):
        raise InputError(f"{what} {value} is not a finite number; give a voltage in {low:g}..{high:g} V vs Li/Li+")
    if value < low:
        raise InputError(f"{what} {value:g} V vs Li/Li+ is below Li plating ({low:g} V)")
    if value > high:
        raise InputError(f"{what} {value:g} V vs Li/Li+ is above {high:g} V, outside any battery's range")
    return value


def check_voltage_range(voltages: Sequence[float], what: str = "voltage range") -> tuple[float, float]:
    """``(LO, HI)`` as floats; InputError unless ``voltages`` is two voltages passing :func:`check_voltage`
    with LO <= HI (V vs Li/Li+)."""
    plain = isinstance(voltages, Iterable) and not isinstance(voltages, (str, bytes, Mapping))
    values = list(voltages) if plain else []
    if len(values) != 2:
        raise InputError(f"{what} needs two voltages LO,HI (V vs Li/Li+), got {voltages!r}")
    low, high = check_voltage(values[0], f"{what} low end"), check_voltage(values[1], f"{what} high end")
    if low > high:
        raise InputError(f"{what} {low:g}-{high:g} V: the low end is above the high end "
                         f"(need {VOLTAGE_RANGE_V[0]:g} <= LO <= HI <= {VOLTAGE_RANGE_V[1]:g} V vs Li/Li+)")
    return low, high


def parse_formula(formula: str) -> Composition:
    """A composition from a formula like ``Li6PS5Cl`` (InputError if it is not a valid formula)."""
    text = formula.strip()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            composition = Composition(text)
    except Exception as exc:  # pymatgen raises ValueError / KeyError / CompositionError
        raise InputError(f"invalid formula {formula!r}: {exc}") from exc
    if not text or composition.num_atoms <= 0 or any(amount < 0 for amount in composition.values()):
        raise InputError(f"invalid formula {formula!r}")
    if not all(math.isfinite(amount) for amount in composition.values()):
        raise InputError(f"invalid formula {formula!r}: amounts must be finite")
    largest = max(composition.values())
    if largest > MAX_AMOUNT or composition.num_atoms > MAX_ATOMS_PER_FORMULA:
        raise InputError(f"formula {formula!r} is not a plausible compound: amounts must be <= {MAX_AMOUNT} and a "
                         f"formula unit <= {MAX_ATOMS_PER_FORMULA} atoms (it has {largest:g} and "
                         f"{composition.num_atoms:g}); write the reduced formula")
    unknown = [el.symbol for el in composition.elements if not isinstance(el, Element)]
    if unknown:
        raise InputError(f"invalid formula {formula!r}: unknown element(s) {', '.join(unknown)}")
    return composition


class PhaseDiagrams:
    """Closed and Li-open phase diagrams, each built at most once per chemical system (and voltage): pymatgen's
    (:meth:`closed`, :meth:`li_open`) and the same hulls in numpy (:meth:`hull`, :meth:`li_open_hull`).

    Takes an entry source (entries fetched per chemical system, on demand) or a plain list of entries.
    Holds no state beyond one analysis: make one per screening or per notebook session.
    """

    def __init__(self, entries: EntrySource | Iterable[Entry]):
        if isinstance(entries, EntrySource):
            self.source: EntrySource | None = entries
            self._index: EntryIndex | None = None
            self.source_name = entries.name
        else:
            self.source = None
            self._index = EntryIndex(entries)
            self.source_name = "entries"
            if not self._index.entries:
                raise DataError("the entry list is empty")
            check_energies(self._index.entries, "the entry list")
        self._fetched: dict[frozenset[str], list[Entry]] = {}
        self._closed: dict[frozenset[str], PhaseDiagram] = {}
        self._open: dict[tuple[frozenset[str], float], GrandPotentialPhaseDiagram] = {}
        self._hulls: dict[tuple[frozenset[str], float | None], Hull] = {}
        self._entry_data: dict[int, EntryData] = {}
        self._open_tables: dict[frozenset[str], EntryTable] = {}
        self._caveats: dict[frozenset[str], list[Caveat]] = {}
        self._product_caveats: dict[tuple, list[Caveat]] = {}
        self.builds = 0  # phase diagrams and hulls constructed, for reuse statistics

    @classmethod
    def of(cls, entries: PhaseDiagrams | EntrySource | Iterable[Entry]) -> PhaseDiagrams:
        """Reuse ``entries`` if it already is a PhaseDiagrams, else wrap it."""
        return entries if isinstance(entries, PhaseDiagrams) else cls(entries)

    def entries(self, elements: Collection[str]) -> list[Entry]:
        """Entries of the chemical system ``elements`` and its subsystems."""
        key = frozenset(str(e) for e in elements)
        if key in self._fetched:
            return self._fetched[key]
        superset = next((k for k in self._fetched if key <= k), None)
        if superset is not None:
            found = entries_within(self._fetched[superset], key)
        elif self._index is not None:
            found = self._index.within(key)
        else:
            found = self.source.get_entries(key)
        self._fetched[key] = found
        return found

    def closed(self, elements: Collection[str]) -> PhaseDiagram:
        """The phase diagram of a chemical system (DataError if an element has no entry)."""
        key = frozenset(str(e) for e in elements)
        if key not in self._closed:
            entries = self.entries(key)
            present = {str(el) for entry in entries if entry.is_element for el in entry.composition.elements}
            missing = sorted(key - present)
            if missing:
                raise DataError(f"entry source '{self.source_name}' has no entry for element(s) "
                                f"{', '.join(missing)} (needed for {chemsys_of(key)})")
            self._closed[key] = PhaseDiagram(entries)
            self.builds += 1
        return self._closed[key]

    def hull(self, elements: Collection[str]) -> Hull:
        """The numpy hull of a chemical system, equal to :meth:`closed`'s (DataError if an element has no entry)."""
        key = frozenset(str(e) for e in elements)
        if (key, None) not in self._hulls:
            entries = self.entries(key)
            for entry in entries:
                if id(entry) not in self._entry_data:
                    self._entry_data[id(entry)] = entry_data(entry)
            present = {symbol for entry in entries if len(amounts := self._entry_data[id(entry)].amounts) == 1
                       for symbol in amounts}
            missing = sorted(key - present)
            if missing:
                raise DataError(f"entry source '{self.source_name}' has no entry for element(s) "
                                f"{', '.join(missing)} (needed for {chemsys_of(key)})")
            self._hulls[key, None] = Hull(EntryTable(entries, self._entry_data, sorted(Element(s) for s in key)))
            self.builds += 1
        return self._hulls[key, None]

    def li_open_hull(self, elements: Collection[str], voltage: float) -> Hull:
        """The numpy hull open to Li at ``voltage`` (V vs Li/Li+), equal to :meth:`li_open`'s."""
        key = frozenset(str(e) for e in elements) | {"Li"}
        if len(key) < 2:
            raise InputError("a Li-open diagram needs at least one element besides Li")
        voltage = round(check_voltage(voltage), 9)
        if (key, voltage) not in self._hulls:
            closed = self.hull(key)
            if key not in self._open_tables:
                # pymatgen's GrandPotentialPhaseDiagram orders its elements as a set of them iterates
                found = {el for entry in closed.all_entries for el in self._entry_data[id(entry)].elements}
                self._open_tables[key] = EntryTable(closed.all_entries, self._entry_data, list(set(found) - {LI}),
                                                    open_to_li=True)
            self._hulls[key, voltage] = Hull(self._open_tables[key], mu_li=closed.el_refs["Li"] - voltage)
            self.builds += 1
        return self._hulls[key, voltage]

    def caveats(self, reactants: Sequence[Composition], products: Sequence[str]) -> list[Caveat]:
        """:func:`ssbkit.interfaces.validity.thermo_caveats` of a result within the closed system of
        ``reactants`` (products: reduced formulas), its parts remembered: the system's (pooled duplicates,
        missing subsystems) per element set, the bare-element products per products and one-element reactants."""
        elements = frozenset(elements_of(*reactants))
        if elements not in self._caveats:
            self._caveats[elements] = thermo_caveats(reactants, [], self.hull(elements).covering_entries(),
                                                     self.source)
        key = (tuple(products), frozenset(str(c.elements[0]) for c in reactants if len(c.elements) == 1))
        if key not in self._product_caveats:
            self._product_caveats[key] = elemental_product_caveats(products, reactants)
        return list(dict.fromkeys(self._caveats[elements] + self._product_caveats[key]))

    def li_metal_energy(self, elements: Collection[str]) -> float:
        """mu_Li of Li metal (eV/atom) in this chemical system's diagram."""
        return self.closed(set(elements) | {"Li"}).el_refs[LI].energy_per_atom

    def li_open(self, elements: Collection[str], voltage: float) -> GrandPotentialPhaseDiagram:
        """Grand-potential diagram open to Li at ``voltage`` (V vs Li/Li+, within ``VOLTAGE_RANGE_V``)."""
        key = frozenset(str(e) for e in elements) | {"Li"}
        if len(key) < 2:
            raise InputError("a Li-open diagram needs at least one element besides Li")
        voltage = round(check_voltage(voltage), 9)
        if (key, voltage) not in self._open:
            closed = self.closed(key)
            mu_li = closed.el_refs[LI].energy_per_atom - voltage
            self._open[key, voltage] = GrandPotentialPhaseDiagram(closed.all_entries, {LI: mu_li})
            self.builds += 1
        return self._open[key, voltage]


def elements_of(*compositions: Composition) -> set[str]:
    return {str(el) for c in compositions for el in c.elements}
