"""Convex hulls of one chemical system in numpy, built exactly as pymatgen's PhaseDiagram builds them.

A :class:`Hull` holds what pymatgen's ``PhaseDiagram._compute`` makes from the same entries (the same qhull
input in the same order, so the same facets with their vertices in the same order) without pymatgen's
Composition arithmetic: hull energies, decompositions and critical compositions along a tie line then
come out as pymatgen's do (to floating-point round-off), at a small fraction of the cost.
The Li-open (grand-potential) hull is the same construction on energies ``E - mu_Li * n_Li`` per non-Li atom
over Li-free compositions, as in pymatgen's GrandPotentialPhaseDiagram.

Energies are eV/atom (grand: eV per non-Li atom); compositions are amounts per element symbol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from pymatgen.core import Composition, Element
from pymatgen.entries import Entry
from scipy.spatial import ConvexHull

NUMERICAL_TOL = 1e-8  # pymatgen's PhaseDiagram.numerical_tol
FORMATION_ENERGY_TOL = 1e-11  # pymatgen's PhaseDiagram.formation_energy_tol
PARALLEL_TOL = 1e-10  # barycentric change below which a tie line runs parallel to a facet face (pymatgen's)


@dataclass
class EntryData:
    """The numbers of one entry that a hull needs, read from its Composition once."""

    amounts: dict[str, float]  # element symbol -> amount per formula unit
    num_atoms: float
    energy: float  # eV per formula unit
    name: str
    formula: str  # reduced formula of the composition
    reduced: dict[str, float]  # reduced composition (pymatgen's)
    li_free_num_atoms: float  # atoms other than Li per formula unit
    li_free_reduced: dict[str, float]  # reduced composition without Li ({} for Li metal)
    elements: tuple[Element, ...]  # as the Composition lists them
    name_formula: str | None = None  # reduced formula of Composition(name), filled when first needed


def entry_data(entry: Entry) -> EntryData:
    """Read what the hulls need from one entry."""
    composition = entry.composition
    li_free = Composition({el: composition[el] for el in composition.elements if el.symbol != "Li"})
    return EntryData(
        amounts={el.symbol: amount for el, amount in composition.items()}, num_atoms=composition.num_atoms,
        energy=entry.energy, name=entry.name,
        formula=composition.reduced_formula,
        reduced={el.symbol: amount for el, amount in composition.reduced_composition.items()},
        li_free_num_atoms=li_free.num_atoms, elements=tuple(composition.elements),
        li_free_reduced={el.symbol: amount for el, amount in li_free.reduced_composition.items()} if li_free else {})


class EntryTable:
    """The entries of one chemical system as arrays over its elements, closed or seen from a Li reservoir
    (Li metal dropped, compositions without Li): what every hull of the system at any Li potential shares."""

    def __init__(self, entries: Sequence[Entry], data: Mapping[int, EntryData], elements: Sequence[Element],
                 open_to_li: bool = False):
        """``entries`` in the order pymatgen would receive them; ``data`` by ``id(entry)``; ``elements`` in the
        diagram's order (pymatgen's PhaseDiagram.elements)."""
        self.elements = list(elements)
        self.symbols = [el.symbol for el in self.elements]
        self.data = data
        self.order = [el.symbol for el in sorted(self.elements)]  # pymatgen sorts compositions by element order
        infos = [data[id(entry)] for entry in entries]
        if open_to_li:  # Li metal is the reservoir itself, not a phase
            kept = [i for i, info in enumerate(infos) if info.li_free_reduced]
            entries, infos = [entries[i] for i in kept], [infos[i] for i in kept]
        self.entries = list(entries)
        self.reduced = np.array([[(info.li_free_reduced if open_to_li else info.reduced).get(s, 0.0)
                                  for s in self.order] for info in infos])
        self.amounts = np.array([[info.amounts.get(s, 0.0) for s in self.symbols] for info in infos])
        self.energies = np.array([info.energy for info in infos])  # eV per formula unit
        self.atoms = np.array([info.li_free_num_atoms if open_to_li else info.num_atoms for info in infos])
        self.li_amounts = np.array([info.amounts.get("Li", 0.0) for info in infos])
        self.name_ranks = np.unique(np.array([info.name for info in infos]), return_inverse=True)[1]
        self.formulas = [info.formula for info in infos]


class Hull:
    """The lower convex hull of one chemical system (closed, or open to Li at a chemical potential).

    Attributes mirror pymatgen's PhaseDiagram: ``elements`` (its element order), ``all_entries`` (sorted as
    pymatgen sorts them), ``hull_entries`` (its qhull_entries), ``facets`` (indices into hull_entries),
    ``el_refs`` (element symbol -> lowest energy per atom of that element's entries).
    """

    def __init__(self, table: EntryTable, mu_li: float | None = None):
        """``mu_li``: eV/atom of the Li reservoir for a table open to Li (None: closed)."""
        self.elements, self.symbols, self.mu_li = table.elements, table.symbols, mu_li
        self._data = table.data
        dim = len(self.symbols)
        order, entries, reduced, amounts, atoms = table.order, table.entries, table.reduced, table.amounts, table.atoms
        energies = table.energies if mu_li is None else table.energies - table.li_amounts * mu_li
        per_atom = energies / atoms
        # pymatgen's order: reduced composition (element by element), energy per atom, name; stable
        sorted_rows = np.lexsort([table.name_ranks, per_atom] + [reduced[:, j] for j in reversed(range(len(order)))])
        self.all_entries = [entries[i] for i in sorted_rows]
        reduced = reduced[sorted_rows]
        first = np.ones(len(sorted_rows), dtype=bool)
        first[1:] = (reduced[1:] != reduced[:-1]).any(axis=1)
        minima = sorted_rows[first]  # the lowest entry of each composition
        compositions = reduced[first]
        single = np.flatnonzero((compositions != 0).sum(axis=1) == 1)  # elements
        el_refs = {order[column]: int(i) for i, column in zip(single, compositions[single].argmax(axis=1), strict=True)}
        missing = set(self.symbols) - set(el_refs)
        if missing or set(el_refs) - set(self.symbols):
            raise ValueError(f"missing terminal entries for {sorted(missing)}")
        fractions = np.abs(amounts[minima]) / atoms[minima][:, None]
        data_matrix = np.column_stack([fractions, per_atom[minima]])
        reference = np.array([per_atom[minima[el_refs[s]]] for s in self.symbols] + [-1.0])
        formation = -data_matrix @ reference
        chosen = np.flatnonzero(formation < -FORMATION_ENERGY_TOL).tolist() + list(el_refs.values())
        self.el_refs = {s: float(per_atom[minima[i]]) for s, i in el_refs.items()}
        self.hull_entries = [entries[minima[i]] for i in chosen]
        self.formulas = [table.formulas[minima[i]] for i in chosen]  # reduced formulas of the compositions
        energies = per_atom[minima]
        self.fractions = fractions[chosen]
        self.energies = energies[chosen]
        qhull_data = data_matrix[chosen][:, 1:]
        extra = np.zeros(dim) + 1 / dim
        extra[-1] = np.max(qhull_data) + 1
        qhull_data = np.concatenate([qhull_data, [extra]], axis=0)
        if dim == 1:
            facets = np.array([qhull_data.argmin(axis=0)])
        else:
            facets = ConvexHull(qhull_data, qhull_options="Qt i").simplices
            facets = facets[facets.max(axis=1) != len(qhull_data) - 1]
            square = qhull_data[facets]
            square[:, :, -1] = 1
            facets = facets[np.abs(np.linalg.det(square)) > 1e-14] if len(facets) else facets
        self.facets = facets
        vertices = qhull_data[facets][:, :, :-1]  # (facets, dim, dim - 1) pd coordinates
        augmented = np.concatenate([vertices, np.ones((*vertices.shape[:2], 1))], axis=2)
        self._inverse = np.linalg.inv(augmented)
        self.stable = {id(self.hull_entries[i]) for i in np.unique(facets)}
        self._covering: list[Entry] | None = None

    def entries_with(self, reduced: Mapping[str, float]) -> list[Entry]:
        """All entries whose reduced composition is ``reduced`` (amounts within 1e-8, as pymatgen compares)."""
        return [entry for entry in self.all_entries
                if (own := self._data[id(entry)].reduced).keys() == reduced.keys()
                and all(abs(own[s] - amount) <= NUMERICAL_TOL for s, amount in reduced.items())]

    def amounts(self, entry: Entry) -> dict[str, float]:
        """Element symbol -> amount per formula unit of one of the entries."""
        return self._data[id(entry)].amounts

    def name_formula(self, vertex: int) -> str:
        """Reduced formula of a hull entry's name, the composition pymatgen's reactions write for it."""
        info = self._data[id(self.hull_entries[vertex])]
        if info.name_formula is None:
            info.name_formula = Composition(info.name).reduced_formula
        return info.name_formula

    def covering_entries(self) -> list[Entry]:
        """One entry per distinct set of two or three elements among all entries: all that phase-set checks
        (``ssbkit.interfaces.validity.phase_set_caveats``, on subsystems of two or three elements) look at."""
        if self._covering is None:
            seen: dict[frozenset[str], Entry] = {}
            for entry in self.all_entries:
                if 2 <= len(amounts := self._data[id(entry)].amounts) <= 3:
                    seen.setdefault(frozenset(amounts), entry)
            self._covering = list(seen.values())
        return self._covering

    def fractions_of(self, amounts: Mapping[str, float]) -> np.ndarray:
        """Atomic fractions over ``elements`` (Li dropped for a Li-open hull), as pymatgen's pd_coords with
        the first element kept."""
        kept = {s: abs(a) for s, a in amounts.items() if abs(a) >= NUMERICAL_TOL and (self.mu_li is None or s != "Li")}
        total = sum(kept.values())
        return np.array([kept.get(s, 0.0) / total for s in self.symbols])

    def facets_of(self, fractions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each row of ``fractions`` (points, dim): the first facet holding it (pymatgen's choice) and its
        barycentric coordinates there, amounts <= 1e-8 set to zero (pymatgen drops those phases)."""
        augmented = np.concatenate([fractions[:, 1:], np.ones((len(fractions), 1))], axis=1)
        bary = np.einsum("kd,fde->kfe", augmented, self._inverse)
        inside = (bary >= -NUMERICAL_TOL / 10).all(axis=2)
        first = inside.argmax(axis=1)
        rows = np.arange(len(fractions))
        if not inside[rows, first].all():
            raise RuntimeError(f"no facet found for {fractions[~inside[rows, first]]}")
        amounts = bary[rows, first]
        return first, np.where(np.abs(amounts) > NUMERICAL_TOL, amounts, 0.0)

    def decomposition(self, fractions: np.ndarray) -> list[tuple[int, float]]:
        """(hull-entry index, amount) of the phases at ``fractions``, in facet order (pymatgen's)."""
        facet, amounts = self.facets_of(fractions[None])
        return [(int(v), float(a)) for v, a in zip(self.facets[facet[0]], amounts[0], strict=True) if a]

    def energies_per_atom(self, fractions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Hull energies per atom (eV/atom) at each row of ``fractions``, with the facets and amounts."""
        facets, amounts = self.facets_of(fractions)
        return (amounts * self.energies[self.facets[facets]]).sum(axis=1), facets, amounts

    def energy_per_atom(self, fractions: np.ndarray) -> float:
        """Hull energy per atom (eV/atom) at ``fractions``."""
        return float(self.energies_per_atom(fractions[None])[0][0])

    def chempots(self, facets: np.ndarray, symbol: str) -> np.ndarray:
        """Chemical potential of ``symbol`` (eV/atom) on each of ``facets``."""
        vertices = self.facets[facets]
        solved = np.linalg.solve(self.fractions[vertices], self.energies[vertices][..., None])
        return solved[:, self.symbols.index(symbol), 0]

    def critical_fractions(self, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Points where the decomposition changes on the tie line ``start`` -> ``end`` (fractions), endpoints
        included, as pymatgen's get_critical_compositions finds them: (fractions (k, dim), x (k,)) with x
        the fraction of the way to ``end``."""
        c1, c2 = start[1:], end[1:]
        if np.all(c1 == c2):
            return np.array([start, end]), np.array([0.0, 1.0])
        b1, b2 = np.einsum("kd,fde->kfe", np.concatenate([[c1, c2], np.ones((2, 1))], axis=1), self._inverse)
        line = b1 - b2
        valid = np.abs(line) > PARALLEL_TOL
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(valid, b1 / np.where(valid, line, 1.0), 0.0)
        # where the line leaves or enters each facet: one barycentric coordinate zero, none below -1e-8
        possible = b1[:, None, :] - ratio[:, :, None] * line[:, None, :]  # (facets, which zero, dim)
        hits = valid & (possible >= -NUMERICAL_TOL).all(axis=2)
        length = np.sum((c2 - c1) ** 2) ** 0.5
        direction = (c2 - c1) / length
        proj = np.concatenate([[0.0, length], ratio[hits] * length])  # distances from c1 along the line
        proj = proj[(proj > -NUMERICAL_TOL) & (proj < length + NUMERICAL_TOL)]
        proj.sort()
        keep = np.ones(len(proj), dtype=bool)
        keep[1:] = proj[1:] > proj[:-1] + NUMERICAL_TOL
        proj = proj[keep]
        coords = c1 + direction * proj[:, None]
        fractions = np.concatenate([1 - coords.sum(axis=1)[:, None], coords], axis=1)
        return fractions, proj / length


@dataclass(frozen=True)
class Kink:
    """One kink of a reaction profile: mixing ratio ``x`` (atomic fraction of reactant A, pymatgen's ``x``
    on the normalised tie line), the reaction energy there (eV/atom) and the phases formed (hull-entry
    indices in pymatgen's order)."""

    x: float
    energy: float
    products: tuple[int, ...]
    amounts: tuple[float, ...]  # of each product, atoms (of the hull's elements) per atom of mixture


def reaction_kinks(hull: Hull, amounts_a: Mapping[str, float], amounts_b: Mapping[str, float]) -> list[Kink]:
    """Reaction energies of ``x A + (1 - x) B`` per atom at every kink, x ascending, as pymatgen's
    InterfacialReactivity (norm=True, use_hull_energy=True) computes them on the same diagram (a Li-open hull:
    as GrandPotentialInterfacialReactivity with include_no_mixing_energy=False)."""
    f1, f2 = hull.fractions_of(amounts_a), hull.fractions_of(amounts_b)
    if np.all(f1[1:] == f2[1:]):
        ratios = [0.0, 1.0]
    else:
        critical, _ = hull.critical_fractions(f1, f2)
        span = np.linalg.norm(f1[1:] - f2[1:])
        ratios = [float(np.linalg.norm(point[1:] - f2[1:]) / span) for point in critical[::-1]]
    x = np.array(ratios)
    mixtures = x[:, None] * f1 + (1 - x)[:, None] * f2
    mixtures[mixtures < NUMERICAL_TOL] = 0.0
    totals = mixtures.sum(axis=1)
    hull_energies, facets, amounts = hull.energies_per_atom(np.concatenate([[f1, f2], mixtures / totals[:, None]]))
    (e1, e2), hull_energies, facets, amounts = hull_energies[:2], hull_energies[2:], facets[2:], amounts[2:]
    energies = totals * hull_energies - e1 * x - e2 * (1 - x)
    kinks = []
    for k in range(len(x)):
        phases = [(int(v), float(a * totals[k])) for v, a in zip(hull.facets[facets[k]], amounts[k], strict=True) if a]
        kinks.append(Kink(float(x[k]), float(energies[k]), tuple(v for v, _ in phases), tuple(a for _, a in phases)))
    return kinks


@dataclass(frozen=True)
class VoltageStep:
    """One Li chemical-potential interval of a Li element profile: its lower bound (eV/atom), the Li taken
    up per formula unit and the phases (hull-entry indices)."""

    chempot: float
    li_uptake: float
    products: tuple[int, ...]


def li_profile(hull: Hull, amounts: Mapping[str, float]) -> list[VoltageStep]:
    """pymatgen's ``PhaseDiagram.get_element_profile(Li, composition)`` on a closed hull holding Li: the
    critical compositions from Li metal to the Li-free composition, each with the Li chemical potential just
    on the Li side of it and the Li uptake per formula unit of ``amounts`` (Li + composition -> phases)."""
    li_free = {s: a for s, a in amounts.items() if s != "Li" and abs(a) >= NUMERICAL_TOL}
    n_free = sum(abs(a) for a in li_free.values())
    li_amount = amounts.get("Li", 0.0)
    start = hull.fractions_of({"Li": 1.0})
    critical, ratios = hull.critical_fractions(start, hull.fractions_of(li_free))
    li = hull.symbols.index("Li")
    x = ratios[1:]
    x_atoms = x / (n_free + x * (1 - n_free))
    points = critical[1:] * (1 + (n_free - 1) * x_atoms)[:, None]
    points[np.abs(points) < NUMERICAL_TOL] = 0.0
    fractions = points / points.sum(axis=1)[:, None]
    facets, phase_amounts = hull.facets_of(fractions)
    shifted = points.copy()
    shifted[:, li] += 1e-5  # just on the Li side, as pymatgen takes the chemical potential
    chempots = hull.chempots(hull.facets_of(shifted / shifted.sum(axis=1)[:, None])[0], "Li")
    li_fraction = fractions[:, li]
    uptake = n_free * li_fraction / (1 - li_fraction) - li_amount
    return [VoltageStep(float(chempots[k]), float(uptake[k]),
                        tuple(int(v) for v, a in zip(hull.facets[facets[k]], phase_amounts[k], strict=True) if a))
            for k in range(len(x))]
