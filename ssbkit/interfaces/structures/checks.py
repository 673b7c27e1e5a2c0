"""Physical sanity checks shared by the structure builders: conversions, minimum distances, formal charge."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list
from pymatgen.core import Element, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from ssbkit.errors import InputError


def as_atoms(structure: Atoms | Structure) -> Atoms:
    """An ase.Atoms copy of an ase.Atoms or pymatgen Structure (site properties become arrays)."""
    if isinstance(structure, Atoms):
        return structure.copy()
    if isinstance(structure, Structure):
        if not structure.is_ordered:
            raise InputError(f"{structure.composition.reduced_formula} has partial occupancies; order it first "
                             "(e.g. ssbkit.interfaces.structures.llzo.cubic_llzo for garnet LLZO)")
        return AseAtomsAdaptor.get_atoms(structure.remove_oxidation_states() if _has_oxi(structure) else structure)
    raise InputError(f"expected ase.Atoms or pymatgen Structure, got {type(structure).__name__}")


def as_structure(atoms: Atoms | Structure) -> Structure:
    """A pymatgen Structure copy of an ase.Atoms or pymatgen Structure (3D periodic)."""
    if isinstance(atoms, Structure):
        return atoms.copy()
    if isinstance(atoms, Atoms):
        work = atoms.copy()
        work.set_constraint()
        work.calc = None
        for key in list(work.arrays):
            if key not in ("numbers", "positions"):
                del work.arrays[key]
        work.pbc = True
        return AseAtomsAdaptor.get_structure(work)
    raise InputError(f"expected ase.Atoms or pymatgen Structure, got {type(atoms).__name__}")


def _has_oxi(structure: Structure) -> bool:
    return any(getattr(sp, "oxi_state", None) not in (None, 0) for sp in structure.composition)


def min_distance(atoms: Atoms, cutoff: float | None = None) -> float:
    """Shortest interatomic distance (Å), periodic images included. With ``cutoff``, pairs farther than it
    are not looked at and the answer is ``cutoff`` when none is closer; without, it searches up to 8 Å
    (inf if no pair is that close)."""
    for radius in ([cutoff] if cutoff else [3.0, 8.0]):
        d = neighbor_list("d", atoms, radius, self_interaction=False)
        if len(d):
            return float(d.min())
    return float(cutoff) if cutoff else float("inf")


def formal_charges(atoms: Atoms) -> np.ndarray:
    """Formal oxidation state of every atom: 0 for metals and alloys, otherwise pymatgen's most likely
    charge-balanced assignment by element. Raises InputError when no neutral assignment exists."""
    symbols = set(atoms.get_chemical_symbols())
    if all(Element(s).is_metal for s in symbols):
        return np.zeros(len(atoms))
    composition = as_structure(atoms).composition
    guesses = composition.oxi_state_guesses(max_sites=-1)
    if not guesses:
        raise InputError(f"{composition.formula} cannot be made charge-neutral with common oxidation states")
    oxi = guesses[0]
    return np.array([oxi[s] for s in atoms.get_chemical_symbols()], dtype=float)


def conventional_cell(structure: Atoms | Structure) -> Structure:
    """Conventional standard cell, so Miller indices and axes mean what they do in the literature; a cell
    without symmetry (an ordered cubic LLZO) is kept as given."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    structure = as_structure(structure)
    analyzer = SpacegroupAnalyzer(structure, symprec=0.01)
    if analyzer.get_space_group_number() == 1:
        return structure
    return analyzer.get_conventional_standard_structure()
