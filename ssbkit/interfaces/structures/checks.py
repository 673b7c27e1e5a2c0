"""Physical sanity checks shared by the structure builders: minimum distances, formal charge, conventional cell."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from pymatgen.core import Element, Structure

from ssbkit.errors import InputError
from ssbkit.io import to_atoms, to_structure

__all__ = ["check_overlaps", "conventional_cell", "formal_charges", "min_distance"]

MIN_SEPARATION_A = 0.5  # Å: atoms closer than this overlap (no real crystal has such a bond)


def min_distance(atoms: Atoms, cutoff: float | None = None) -> float:
    """Shortest interatomic distance (Å), periodic images included. With ``cutoff``, pairs farther than it
    are not looked at and the answer is ``cutoff`` when none is closer; without, it searches up to 8 Å
    (inf if no pair is that close)."""
    from ase.neighborlist import neighbor_list

    for radius in ([cutoff] if cutoff else [3.0, 8.0]):
        d = neighbor_list("d", atoms, radius, self_interaction=False)
        if len(d):
            return float(d.min())
    return float(cutoff) if cutoff else float("inf")


def check_overlaps(structure: Atoms | Structure, name: str | None = None,
                   min_separation_A: float = MIN_SEPARATION_A) -> None:
    """InputError naming the closest pair (indices, species, distance in Å) when two atoms, periodic images
    included, are closer than ``min_separation_A``; ``name`` (a file, say) heads the message."""
    from ase.neighborlist import neighbor_list

    atoms = to_atoms(structure)
    first, second, distance = neighbor_list("ijd", atoms, min_separation_A, self_interaction=False)
    if not len(distance):
        return
    k = int(np.argmin(distance))
    i, j = int(first[k]), int(second[k])
    symbols = atoms.get_chemical_symbols()
    head = name or atoms.get_chemical_formula()
    raise InputError(f"{head}: atoms {i} ({symbols[i]}) and {j} ({symbols[j]}) overlap, {distance[k]:.2f} A apart "
                     f"(< {min_separation_A:g} A); fix the structure (duplicate or misplaced sites?)")


def formal_charges(atoms: Atoms) -> np.ndarray:
    """Formal oxidation state of every atom: 0 for metals and alloys, otherwise pymatgen's most likely
    charge-balanced assignment by element. Raises InputError when no neutral assignment exists."""
    symbols = set(atoms.get_chemical_symbols())
    if all(Element(s).is_metal for s in symbols):
        return np.zeros(len(atoms))
    composition = to_structure(atoms).composition
    guesses = composition.oxi_state_guesses(max_sites=-1)
    if not guesses:
        raise InputError(f"{composition.formula} cannot be made charge-neutral with common oxidation states")
    oxi = guesses[0]
    return np.array([oxi[s] for s in atoms.get_chemical_symbols()], dtype=float)


def conventional_cell(structure: Atoms | Structure) -> Structure:
    """Conventional standard cell, so Miller indices and axes mean what they do in the literature; a cell
    without symmetry (an ordered cubic LLZO) is kept as given. InputError for overlapping atoms."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    structure = to_structure(structure)
    check_overlaps(structure)
    analyzer = SpacegroupAnalyzer(structure, symprec=0.01)
    if analyzer.get_space_group_number() == 1:
        return structure
    return analyzer.get_conventional_standard_structure()
