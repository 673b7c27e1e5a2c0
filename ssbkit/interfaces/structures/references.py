"""Reference crystal structures from the crystallographic literature, loadable by name.

Each entry of ``ssbkit/data/structures/reference_structures.json`` holds a space group, lattice
parameters (Å, degrees) and the asymmetric unit (Wyckoff sites with fractional coordinates and
occupancies) with its journal reference; :func:`load_reference_structure` builds the cell with
pymatgen's ``Structure.from_spacegroup``.

Partially occupied sites (argyrodite Li on 48h, LGPS Li and Ge/P) are resolved by Ewald ranking:
the formal oxidation states of the entry decorate the disordered cell (primitive or conventional, as
the entry says), pymatgen's ``OrderDisorderedStructureTransformation`` enumerates the orderings
that fill it with whole atoms, and the one with the lowest Ewald (point-charge) energy is returned;
among degenerate orderings the first one pymatgen ranks is kept, so the result is reproducible. Entries whose
ordering names the ensemble builder (doped garnets, anion-disordered argyrodite) load as the lowest-Ewald
member of a seeded ensemble (:mod:`ssbkit.interfaces.structures.ensembles`, exclusion rule included).
Relax an ordered cell before computing anything from it.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import spglib
from pymatgen.core import Lattice, Structure
from pymatgen.transformations.standard_transformations import OrderDisorderedStructureTransformation

from ssbkit.errors import DataError, InputError
from ssbkit.io import atomic_write, to_atoms, to_structure
from ssbkit.logs import quiet_warnings
from ssbkit.results import Result

DATA_FILE = "reference_structures.json"


@dataclass
class ReferenceStructureInfo(Result):
    """What the library knows about one structure (lattice in Å and degrees, density in g/cm³)."""

    name: str
    formula: str
    category: str
    description: str
    space_group: str
    lattice: dict[str, float]
    source: str
    disordered: bool
    ordering: str | None
    oxidation_states: dict[str, float]


@cache
def _records() -> dict[str, dict[str, Any]]:
    text = resources.files("ssbkit.data.structures").joinpath(DATA_FILE).read_text()
    try:
        records = json.loads(text)["structures"]
    except (json.JSONDecodeError, KeyError) as exc:
        raise DataError(f"reference-structure data file {DATA_FILE} is unreadable: {exc}") from exc
    return {record["name"]: record for record in records}


def _record(name: str) -> dict[str, Any]:
    records = _records()
    by_lower = {alias.lower(): key for key, record in records.items() for alias in [key, *record.get("aliases", [])]}
    key = by_lower.get(name.strip().lower())
    if key is None:
        raise InputError(f"no reference structure named {name!r}; known: {', '.join(records)}")
    return records[key]


def _lattice(parameters: dict[str, float]) -> Lattice:
    a = parameters["a"]
    return Lattice.from_parameters(
        a, parameters.get("b", a), parameters.get("c", a),
        parameters.get("alpha", 90.0), parameters.get("beta", 90.0), parameters.get("gamma", 90.0),
    )


@cache
def symmetry_operations(space_group: str) -> tuple[np.ndarray, np.ndarray]:
    """Rotations and translations of a space group from spglib's database.

    ``space_group`` is a Hermann-Mauguin symbol with an optional setting, e.g. ``"Fd-3m:2"`` (origin
    choice 2) or ``"R3c:H"`` (hexagonal axes); without one, the first setting of the International Tables.
    """
    symbol, _, choice = space_group.partition(":")
    for hall_number in range(1, 531):
        group = spglib.get_spacegroup_type(hall_number)
        if group.international_short == symbol and choice in ("", group.choice):
            operations = spglib.get_symmetry_from_database(hall_number)
            return operations["rotations"], operations["translations"]
    raise InputError(f"unknown space group {space_group!r}")


def _orbit(rotations: np.ndarray, translations: np.ndarray, point: np.ndarray, tol: float) -> list[np.ndarray]:
    images = np.mod(np.einsum("nij,j->ni", rotations, point) + translations, 1.0)
    orbit: list[np.ndarray] = []
    for image in images:
        if all(np.abs((image - kept + 0.5) % 1.0 - 0.5).max() > tol for kept in orbit):
            orbit.append(image)
    return orbit


def structure_from_wyckoff(space_group: str, lattice: dict[str, float], sites: list[dict[str, Any]],
                           tol: float = 1e-3) -> Structure:
    """Build the full (possibly disordered) cell from a space group, lattice parameters and Wyckoff sites.

    ``sites`` are dicts with ``species`` (element -> occupancy) and fractional ``coords``; every site is
    expanded to its orbit under the group's operations (images closer than ``tol`` merged).
    """
    rotations, translations = symmetry_operations(space_group)
    species, coords = [], []
    for site in sites:
        orbit = _orbit(rotations, translations, np.asarray(site["coords"], dtype=float), tol)
        species += [site["species"]] * len(orbit)
        coords += orbit
    return Structure(_lattice(lattice), species, coords)


def order_by_ewald(structure: Structure, oxidation_states: dict[str, float]) -> Structure:
    """Lowest-Ewald-energy ordering of a partially occupied cell (formal charges from ``oxidation_states``).

    The cell must hold a whole number of atoms of each species. Returns a structure without oxidation states.
    """
    if structure.is_ordered:
        return structure.copy()
    decorated = structure.copy()
    decorated.add_oxidation_state_by_element(oxidation_states)
    try:
        ranked = OrderDisorderedStructureTransformation(algo=OrderDisorderedStructureTransformation.ALGO_FAST)
        ordered = ranked.apply_transformation(decorated, return_ranked_list=1)[0]["structure"]
    except ValueError as exc:  # fractional atom counts in the cell
        raise InputError(f"cannot order {structure.composition.reduced_formula}: {exc}") from exc
    ordered.remove_oxidation_states()
    return ordered


def _info(record: dict[str, Any]) -> ReferenceStructureInfo:
    disordered = record.get("disordered", False) or any(
        len(site["species"]) > 1 or sum(site["species"].values()) < 1 for site in record.get("sites", []))
    ordering = record.get("ordering")
    return ReferenceStructureInfo(
        name=record["name"], formula=record["formula"], category=record["category"],
        description=record["description"], space_group=record["space_group"].partition(":")[0],
        lattice=record["lattice"], source=record["source"], disordered=disordered,
        ordering=_ordering_text(ordering) if disordered and ordering else None,
        oxidation_states=record["oxidation_states"],
    )


def _ordering_text(ordering: dict[str, str]) -> str:
    if "method" in ordering:
        return f"{ordering['method']}. {ordering.get('note', '')}".strip().rstrip(".")
    return f"Ewald ranking in the {ordering['supercell']} cell. {ordering.get('note', '')}".strip()


def list_reference_structures() -> list[ReferenceStructureInfo]:
    """Every structure in the library with its metadata and literature source."""
    return [_info(record) for record in _records().values()]


def reference_structure_info(name: str) -> ReferenceStructureInfo:
    """Metadata of one library structure (name matched case-insensitively)."""
    return _info(_record(name))


def load_reference_structure(name: str, ordered: bool = True) -> Structure:
    """The library structure ``name`` (e.g. ``"Li6PS5Cl"``): ordered by Ewald ranking unless ``ordered=False``.

    Ordered cells of fully occupied structures are the conventional cells of the space group; partially
    occupied ones are ordered in the cell the entry names (primitive or conventional).
    """
    return _built(_record(name)["name"], ordered).copy()


@cache
def _built(name: str, ordered: bool) -> Structure:
    record = _records()[name]
    if "builder" in record:  # cells built by another ssbkit module (e.g. LLZO), always ordered
        module, _, function = record["builder"].partition(":")
        return to_structure(getattr(importlib.import_module(module), function)())
    structure = structure_from_wyckoff(record["space_group"], record["lattice"], record["sites"])
    if not ordered or structure.is_ordered:
        return structure
    if record.get("ordering", {}).get("ensemble"):  # garnets and anion-disordered argyrodite
        from ssbkit.interfaces.structures.ensembles import build_ensemble

        structure.add_oxidation_state_by_element(record["oxidation_states"])
        return build_ensemble(structure, (1, 1, 1), 1, name=name).members[0].structure
    if record.get("ordering", {}).get("supercell") == "primitive":
        structure = structure.get_primitive_structure()
    return order_by_ewald(structure, record["oxidation_states"])


def write_structure(structure: Structure, path: str | Path) -> None:
    """Write a structure atomically; the format follows the file name (.cif, POSCAR/.vasp, .json, .xyz/.extxyz).
    The parent folder must exist (:func:`ssbkit.io.check_output_path`)."""
    path = Path(path)
    if path.suffix in (".xyz", ".extxyz"):
        from ase.io import write

        def writer(temporary: Path) -> None:
            write(temporary, to_atoms(structure), format="extxyz")
    else:
        fmt = {".cif": "cif", ".json": "json", ".vasp": "poscar"}.get(path.suffix)
        if fmt is None and "POSCAR" not in path.name and "CONTCAR" not in path.name:
            raise InputError(f"unknown structure format for {path.name} ({''.join(path.suffixes) or path.name}); "
                             "use .cif, .vasp, POSCAR, .json or .extxyz")

        def writer(temporary: Path) -> None:
            with quiet_warnings():  # CifWriter warns that labels of partially occupied sites repeat
                structure.to(filename=str(temporary), fmt=fmt or "poscar")
    atomic_write(path, writer)
