"""CSL tilt and twist grain boundaries (pymatgen GrainBoundaryGenerator underneath).

Elemental crystals: pymatgen first removes one atom of every pair closer than ``rm_ratio`` times the
bulk bond length (the usual treatment of coincident sites). Compounds: no atom is removed, so both grains,
and the bicrystal, keep the bulk stoichiometry and stay charge-neutral. Then the upper grain is translated
rigidly (in-plane shifts on a grid of cell fractions, and an opening of the boundary) until no two atoms
are closer than ``min_distance`` Å, taking the smallest opening and then the largest shortest distance.
The cell holds two boundaries (periodic bicrystal), both of area ``area_A2``. Its atoms are listed grain by
grain, each from the bottom up (:func:`canonical_order`), the same on every machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from pymatgen.core import Lattice, Structure

from ssbkit.errors import InputError
from ssbkit.interfaces.structures.checks import conventional_cell, formal_charges, min_distance
from ssbkit.io import to_atoms, to_structure
from ssbkit.logs import quiet_warnings
from ssbkit.results import Result

MAX_SIGMA = 100  # largest sigma the builder enumerates
_LATTICES = {"c": "cubic", "t": "tetragonal", "o": "orthorhombic", "h": "hexagonal", "r": "rhombohedral"}
SHIFT_GRID = (0.0, 0.25, 0.5, 0.75)  # in-plane translations, fractions of the GB cell vectors
OPENINGS_A = (0.0, 0.5, 1.0, 1.5, 2.0)  # extra separation of the grains at each boundary (Å)


@dataclass
class GrainBoundaryResult(Result):
    """A periodic bicrystal: sigma, rotation axis/angle (deg), GB plane, type (tilt/twist/mixed), GB area
    (Å², each of the two boundaries), atom count, shortest distance (Å), net formal charge (e), whether
    it keeps the bulk stoichiometry, the rigid shift (fractions) and opening (Å) used."""

    atoms: Atoms
    sigma: int
    rotation_axis: tuple[int, ...]
    rotation_angle_deg: float
    plane: tuple[int, ...]
    gb_type: str
    area_A2: float
    n_atoms: int
    min_distance_A: float
    net_charge: float
    stoichiometric: bool
    shift: tuple[float, float]
    opening_A: float


def sigma_values(bulk: Atoms | Structure, axis: Sequence[int], max_sigma: int = MAX_SIGMA) -> dict[int, list[float]]:
    """Every CSL sigma up to ``max_sigma`` about ``axis`` for the bulk lattice, with its rotation angles (deg)."""
    return _sigma_table(_generator(conventional_cell(to_structure(bulk))), axis, max_sigma)


def sigma_angles(bulk: Atoms | Structure, sigma: int, axis: Sequence[int]) -> list[float]:
    """Rotation angles (deg) about ``axis`` that give a CSL boundary of this ``sigma`` for the bulk lattice.

    InputError for a sigma above ``MAX_SIGMA`` or one that does not exist about ``axis`` (listing those that do).
    """
    if not 1 <= sigma <= MAX_SIGMA:
        raise InputError(f"sigma {sigma} is outside 1-{MAX_SIGMA}, the range the grain-boundary builder supports")
    generator = _generator(conventional_cell(to_structure(bulk)))
    table = _sigma_table(generator, axis, MAX_SIGMA)
    if sigma not in table:
        existing = ", ".join(str(value) for value in table) or "none"
        raise InputError(f"sigma {sigma} does not exist for rotations about {tuple(axis)} in this "
                         f"{_LATTICES.get(generator.lat_type, generator.lat_type)} lattice; sigmas up to "
                         f"{MAX_SIGMA}: {existing}")
    return sorted(table[sigma])


def _sigma_table(generator, axis: Sequence[int], max_sigma: int) -> dict[int, list[float]]:
    """{sigma: angles in deg} about ``axis`` up to ``max_sigma``, sigma ascending (pymatgen's enumeration)."""
    from pymatgen.core.interface import GrainBoundaryGenerator

    lattice_type = generator.lat_type
    ratio = _ratio(generator)
    enumerate_sigma = {
        "c": lambda: GrainBoundaryGenerator.enum_sigma_cubic(max_sigma, tuple(axis)),
        "t": lambda: GrainBoundaryGenerator.enum_sigma_tet(max_sigma, tuple(axis), ratio),
        "o": lambda: GrainBoundaryGenerator.enum_sigma_ort(max_sigma, tuple(axis), ratio),
        "h": lambda: GrainBoundaryGenerator.enum_sigma_hex(max_sigma, tuple(axis), ratio),
        "r": lambda: GrainBoundaryGenerator.enum_sigma_rho(max_sigma, tuple(axis), ratio),
    }[lattice_type]
    try:
        table = enumerate_sigma()
    except (ValueError, RuntimeError, ZeroDivisionError) as exc:
        raise InputError(f"no CSL boundaries about {tuple(axis)}: {exc}") from exc
    return {int(value): [float(a) for a in angles] for value, angles in sorted(table.items()) if angles}


def build_grain_boundary(
    bulk: Atoms | Structure,
    sigma: int,
    axis: Sequence[int],
    plane: Sequence[int] | None = None,
    angle_deg: float | None = None,
    expand_times: int = 2,
    min_distance_A: float | None = None,
    rm_ratio: float = 0.7,
) -> GrainBoundaryResult:
    """Periodic bicrystal with a sigma-``sigma`` boundary about ``axis`` on ``plane`` (default: twist).

    ``angle_deg``: which of the sigma's angles (default the smallest); ``expand_times``: grain thickness
    in CSL periods; ``min_distance_A``: shortest allowed distance for compounds (default 0.8 x the
    shortest bulk distance; for every crystal).
    """
    structure = conventional_cell(to_structure(bulk))
    formal_charges(to_atoms(structure))  # raises for compositions that cannot be neutral
    angles = sigma_angles(structure, sigma, axis)
    if not angles:
        raise InputError(f"sigma {sigma} does not exist for rotations about {tuple(axis)} in this lattice; "
                         "check the sigma/axis pair")
    if angle_deg is None:
        angle_deg = angles[0]
    elif not any(abs(angle_deg - a) < 1e-3 for a in angles):
        raise InputError(f"angle {angle_deg} deg is not a sigma {sigma} angle about {tuple(axis)}; choose from "
                         + ", ".join(f"{a:.3f}" for a in angles))
    if expand_times < 1:
        raise InputError("expand_times must be >= 1")
    elemental = len(structure.composition.elements) == 1
    generator = _generator(structure)
    try:
        with quiet_warnings():
            gb = generator.gb_from_parameters(tuple(axis), angle_deg, expand_times=expand_times, normal=True,
                                              plane=tuple(plane) if plane is not None else None,
                                              ratio=_ratio(generator), rm_ratio=rm_ratio if elemental else 0.0,
                                              quick_gen=False)
    except (ValueError, RuntimeError, np.linalg.LinAlgError) as exc:
        raise InputError(f"cannot build sigma {sigma} {tuple(axis)}/{plane}: {exc}") from exc
    plane_used = tuple(int(v) for v in gb.gb_plane)
    with quiet_warnings():
        atoms = to_atoms(Structure.from_sites(gb.sites))
    # sites merged by pymatgen at an elemental boundary lose their label; they stay with the lower grain
    top = np.array([str(label).startswith("top") for label in gb.site_properties["grain_label"]])
    threshold = 0.8 * min_distance(to_atoms(structure)) if min_distance_A is None else min_distance_A
    atoms, shift, opening = _separate(atoms, top, threshold, sigma, axis, plane_used)
    # pymatgen returns the stacking vector c along any Cartesian direction (along -x for the LLZO template
    # route); the standard form (a along x, b in the xy plane) puts the boundary normal c along z
    atoms.set_cell(atoms.cell.standard_form()[0], scale_atoms=True)
    net_charge = float(formal_charges(atoms).sum()) if not elemental else 0.0
    if abs(net_charge) > 1e-6:
        raise InputError(f"sigma {sigma} boundary of {structure.composition.reduced_formula} has net charge "
                         f"{net_charge:+g} e and cannot be made neutral")
    stoichiometric = to_structure(atoms).composition.reduced_composition == structure.composition.reduced_composition
    atoms.set_array("grain", top.astype(int))
    atoms = atoms[canonical_order(atoms)]
    return GrainBoundaryResult(
        atoms=atoms, sigma=int(sigma), rotation_axis=tuple(int(v) for v in axis),
        rotation_angle_deg=float(angle_deg), plane=plane_used, gb_type=_gb_type(structure.lattice, axis, plane_used),
        area_A2=float(np.linalg.norm(np.cross(atoms.cell[0], atoms.cell[1]))), n_atoms=len(atoms),
        min_distance_A=min_distance(atoms), net_charge=net_charge, stoichiometric=stoichiometric,
        shift=shift, opening_A=opening)


def canonical_order(atoms: Atoms, tolerance: float = 1e-5) -> np.ndarray:
    """Indices that list a bicrystal grain by grain, then by height along c, then along b and a, with fractional
    coordinates within ``tolerance`` of each other (or of the cell face) taken as equal.

    pymatgen returns the sites next to the boundary in the order of a clustering of their distance matrix, whose
    ties fall differently with the machine's floating-point kernels; this order depends on the positions only,
    so a bicrystal built on any machine lists its atoms in the same order and atom indices carry over.
    """
    fractions = atoms.get_scaled_positions(wrap=True)
    fractions[fractions > 1 - tolerance] = 0.0
    keys = [_layer_ranks(fractions[:, axis], tolerance) for axis in (0, 1, 2)]
    return np.lexsort(keys + [grain_labels(atoms)])


def _layer_ranks(values: np.ndarray, tolerance: float) -> np.ndarray:
    """Rank of each value's layer, where a layer gathers values that lie within ``tolerance`` of the next."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=int)
    ranks[order] = np.concatenate([[0], np.cumsum(np.diff(values[order]) > tolerance)])
    return ranks


def _separate(atoms: Atoms, top: np.ndarray, threshold: float, sigma, axis, plane):
    """Rigid translation of the top grain that clears all contacts below ``threshold`` Å (module docstring)."""
    cell = atoms.cell[:]
    normal = np.cross(cell[0], cell[1])
    normal /= np.linalg.norm(normal)
    best = None
    for opening in OPENINGS_A:
        for fa in SHIFT_GRID:
            for fb in SHIFT_GRID:
                trial = atoms.copy()
                displacement = fa * cell[0] + fb * cell[1] + opening * normal
                trial.positions[top] += displacement
                trial.set_cell(cell + np.outer([0, 0, 1], 2 * opening * normal), scale_atoms=False)
                shortest = min_distance(trial, cutoff=threshold)
                if best is None or shortest > best[0] + 1e-6:
                    best = (shortest, trial, (fa, fb), opening)
        if best[0] >= threshold:
            return best[1], best[2], best[3]
    raise InputError(f"sigma {sigma} {tuple(axis)}/{plane} boundary: no rigid shift or opening up to "
                     f"{OPENINGS_A[-1]} A keeps atoms {threshold:.2f} A apart (best {best[0]:.2f} A); "
                     "pass a smaller min_distance_A or another plane")


def _generator(structure: Structure):
    """GrainBoundaryGenerator; a metrically cubic cell of low symmetry (an ordered cubic LLZO) is handled as
    cubic, since the CSL depends only on the lattice."""
    from pymatgen.core.interface import GrainBoundaryGenerator

    try:
        return GrainBoundaryGenerator(structure)
    except ValueError:
        a, b, c = structure.lattice.abc
        if np.allclose([a, b], c, rtol=1e-4) and np.allclose(structure.lattice.angles, 90, atol=1e-3):
            generator = GrainBoundaryGenerator(Structure(Lattice.cubic(a), ["H"], [[0, 0, 0]]))
            generator.initial_structure = structure
            return generator
        raise InputError(f"{structure.composition.reduced_formula}: grain boundaries need a cubic, tetragonal, "
                         "orthorhombic, hexagonal or rhombohedral lattice") from None


def _ratio(generator) -> list[int] | None:
    """Axial ratio pymatgen needs for non-cubic lattices (rational approximation of c²/a² etc.)."""
    if generator.lat_type == "c":
        return None
    return generator.get_ratio(max_denominator=5)


def _gb_type(lattice: Lattice, axis: Sequence[int], plane: Sequence[int]) -> str:
    axis_cart = lattice.get_cartesian_coords(axis)
    normal = lattice.reciprocal_lattice.get_cartesian_coords(plane)
    cosine = abs(np.dot(axis_cart, normal)) / (np.linalg.norm(axis_cart) * np.linalg.norm(normal))
    if cosine > 1 - 1e-6:
        return "twist"
    if cosine < 1e-6:
        return "tilt"
    return "mixed"


def grain_labels(bicrystal: Atoms) -> np.ndarray:
    """The ``grain`` array of a bicrystal built here (0 or 1 per atom), or a clear refusal."""
    if "grain" not in bicrystal.arrays:
        raise InputError("the bicrystal has no 'grain' array (which atoms belong to which grain); use a bicrystal "
                         "ssbkit built, e.g. the bicrystal.extxyz of a gb_barriers run")
    return bicrystal.arrays["grain"]


def boundary_plane_z(bicrystal: Atoms) -> float:
    """Height (Å) of the boundary inside the cell of a bicrystal built here (normal along z): midway between the
    top of grain 0 and the bottom of grain 1. The other boundary is the cell's periodic face."""
    grain, z = grain_labels(bicrystal), bicrystal.positions[:, 2]
    return float((z[grain == 0].max() + z[grain == 1].min()) / 2)


def matching_atoms(source: Atoms, target: Atoms, indices: Sequence[int], tolerance_A: float = 0.01) -> list[int]:
    """Indices in ``target`` of the atoms ``indices`` of ``source``: the atoms of the same element at the same
    place relative to the boundary inside the cell (:func:`boundary_plane_z`). ``source`` and ``target`` are
    as-built bicrystals of one boundary with different grain thicknesses (``expand_times``), which share their
    in-plane cell and the structure next to that boundary, so that a hop there can be followed from one
    thickness to the other. Refuses an atom with no counterpart (same element and grain) within ``tolerance_A``
    Å, and bicrystals whose in-plane cells differ."""
    from ase.geometry import get_distances

    if not np.allclose(source.cell[:2], target.cell[:2], atol=1e-6):
        raise InputError("the two bicrystals have different in-plane cells: not one boundary at two thicknesses")
    indices = [int(index) for index in indices]
    if any(not 0 <= index < len(source) for index in indices):
        raise InputError(f"atom indices {indices} are not all inside the {len(source)}-atom bicrystal")
    shifted = source.positions[indices] + [0.0, 0.0, boundary_plane_z(target) - boundary_plane_z(source)]
    _, distances = get_distances(shifted, target.positions, cell=target.cell, pbc=True)
    matches = [int(k) for k in distances.argmin(axis=1)]
    source_grains, target_grains = grain_labels(source), grain_labels(target)
    for index, match, distance in zip(indices, matches, distances.min(axis=1)):
        if distance > tolerance_A or source[index].symbol != target[match].symbol \
                or source_grains[index] != target_grains[match]:
            raise InputError(f"atom {index} ({source[index].symbol}) of the {len(source)}-atom bicrystal has no "
                             f"counterpart in the {len(target)}-atom one (nearest atom {distance:.2f} Å away): "
                             "not the same boundary at another thickness")
    return matches


def sigma5_twist_bicrystal(bulk: Atoms | Structure, expand_times: int = 1) -> Atoms:
    """The as-built sigma-5 (100) twist bicrystal of ``bulk`` with ``expand_times`` CSL periods per grain, with
    its ``grain`` array: the boundary the LLZO grain-boundary hops and barriers use."""
    return build_grain_boundary(bulk, 5, (1, 0, 0), expand_times=expand_times).atoms
