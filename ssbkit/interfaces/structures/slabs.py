"""Slabs by Miller index with every distinct termination listed (pymatgen SlabGenerator underneath).

A slab's c axis is made normal to the surface, the slab centred in ``vacuum`` Å of empty space, and the
lowest ``fix_bottom_layers`` atomic layers fixed with ase.constraints.FixAtoms. Before anything is built
the atom count is estimated (:func:`slab_size`) and a slab larger than ``max_atoms`` is refused.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from pymatgen.core import Structure

from ssbkit.errors import InputError
from ssbkit.interfaces.structures import MAX_ATOMS
from ssbkit.interfaces.structures.checks import conventional_cell
from ssbkit.io import to_atoms
from ssbkit.results import Result

LAYER_TOL = 0.3  # Å: atoms closer than this along the normal belong to one layer


@dataclass
class Termination(Result):
    """One distinct termination of a slab: its index (pick by it), pymatgen shift (fractional coordinate
    along c of the oriented unit cell), outermost-layer
    species (top/bottom), atoms, area (Å²), thickness (Å), and whether it is symmetric, polar and
    stoichiometric."""

    index: int
    shift: float
    top: str
    bottom: str
    n_atoms: int
    area_A2: float
    thickness_A: float
    symmetric: bool
    polar: bool
    stoichiometric: bool
    atoms: Atoms


def parse_miller(miller: Sequence[int] | str) -> tuple[int, int, int]:
    """(h, k, l) from a sequence or a string such as "110", "1,1,0", "1 -1 0" or hexagonal "10-10"/"1,0,-1,0".

    Four-index Miller-Bravais (h, k, i, l) requires i = -(h + k).
    """
    if isinstance(miller, str):
        text = miller.strip().strip("()[]")
        parts = [p for p in re.split(r"[,\s]+", text) if p] if re.search(r"[,\s]", text) else \
            re.findall(r"-?\d", text)
        try:
            values = [int(p) for p in parts]
        except ValueError as exc:
            raise InputError(f"Miller index {miller!r} is not a list of integers") from exc
    else:
        values = [int(v) for v in miller]
        if any(float(v) != int(v) for v in miller):
            raise InputError(f"Miller index {tuple(miller)} must be integers")
    if len(values) == 4:
        h, k, i, ell = values
        if i != -(h + k):
            raise InputError(f"impossible Miller-Bravais index {tuple(values)}: i must equal -(h + k) = {-(h + k)}")
        values = [h, k, ell]
    if len(values) != 3:
        raise InputError(f"Miller index {miller!r} needs 3 (or 4 hexagonal) integers")
    if not any(values):
        raise InputError("impossible Miller index (0, 0, 0): it defines no plane")
    return tuple(values)


def slab_size(structure: Structure, miller: Sequence[int] | str, layers: float | None = None,
              thickness_A: float | None = None) -> tuple[int, float]:
    """(atoms, surface cell area in Å²) of the slab pymatgen's SlabGenerator cuts from ``structure`` (the
    conventional cell) before any primitive reduction, computed without building it: the oriented unit
    cell holds det(M) bulk cells, with M the integer basis of the (hkl) plane and a bulk axis, and the
    slab stacks enough of them for ``layers`` d_hkl planes or ``thickness_A`` Å (overrides layers)."""
    hkl = parse_miller(miller)
    divisor = math.gcd(*hkl)
    hkl = tuple(v // divisor for v in hkl)
    lattice = structure.lattice
    normal = lattice.reciprocal_lattice_crystallographic.get_cartesian_coords(hkl)
    normal /= np.linalg.norm(normal)
    rows = [list(np.eye(3, dtype=int)[i]) for i, v in enumerate(hkl) if v == 0]
    tilted = [(i, abs(np.dot(normal, lattice.matrix[i])) / lattice.abc[i]) for i, v in enumerate(hkl) if v]
    if len(tilted) > 1:
        lcm = math.lcm(*(hkl[i] for i, _ in tilted))
        for (i, _), (j, _) in itertools.combinations(tilted, 2):
            row = [0, 0, 0]
            row[i], row[j] = -round(lcm / hkl[i]), round(lcm / hkl[j])
            rows.append(row)
            if len(rows) == 2:
                break
    rows.append(list(np.eye(3, dtype=int)[max(tilted, key=lambda t: t[1])[0]]))
    rows = [[v // abs(math.gcd(*row)) for v in row] for row in rows]
    vectors = np.array(rows, dtype=float) @ lattice.matrix
    cells = abs(round(np.linalg.det(np.array(rows, dtype=float))))
    height = abs(float(np.dot(normal, vectors[2])))
    if thickness_A is not None:
        stacks = math.ceil(thickness_A / height)
    else:
        stacks = math.ceil((layers or 1) / round(height / lattice.d_hkl(hkl), 8))
    return len(structure) * cells * stacks, float(np.linalg.norm(np.cross(vectors[0], vectors[1])))


def check_size(n_atoms: float, max_atoms: int, what: str) -> None:
    """InputError when an estimated ``n_atoms`` exceeds ``max_atoms`` (``what`` describes the request)."""
    if max_atoms < 1:
        raise InputError(f"max_atoms must be >= 1, got {max_atoms}")
    if n_atoms > max_atoms:
        raise InputError(f"{what} would have about {n_atoms:.3g} atoms, more than max_atoms = {max_atoms} "
                         "(--max-atoms); ask for less or raise the limit")


def slab_terminations(
    bulk: Atoms | Structure,
    miller: Sequence[int] | str,
    layers: int | None = 4,
    thickness_A: float | None = None,
    vacuum_A: float = 15.0,
    symmetric: bool = False,
    fix_bottom_layers: int = 0,
    ftol: float = 0.1,
    max_atoms: int = MAX_ATOMS,
) -> list[Termination]:
    """Every distinct termination of the (hkl) slab, as built slabs.

    Thickness is ``layers`` (d_hkl planes) or ``thickness_A`` (Å, overrides layers). ``symmetric=True``
    asks pymatgen for top/bottom-equivalent slabs (atoms may be removed, see ``stoichiometric``).
    A slab estimated (:func:`slab_size`) to hold more than ``max_atoms`` atoms is refused before it is built.
    """
    hkl = parse_miller(miller)
    if thickness_A is None and (layers is None or layers < 1):
        raise InputError("give layers >= 1 or thickness_A > 0")
    if thickness_A is not None and not 0 < thickness_A < math.inf:
        raise InputError("thickness_A must be positive and finite")
    if not 0 <= vacuum_A < math.inf:
        raise InputError("vacuum_A must be >= 0 and finite")
    structure = conventional_cell(bulk)
    n_atoms, _ = slab_size(structure, hkl, layers, thickness_A)
    check_size(n_atoms, max_atoms, f"the {hkl} slab of {structure.composition.reduced_formula}")
    from pymatgen.core.surface import SlabGenerator

    in_planes = thickness_A is None
    generator = SlabGenerator(structure, hkl, min_slab_size=layers if in_planes else thickness_A,
                              min_vacuum_size=1 if in_planes else 1.0, in_unit_planes=in_planes,
                              center_slab=True, lll_reduce=False, reorient_lattice=True, primitive=True)
    slabs = generator.get_slabs(ftol=ftol, symmetrize=symmetric)
    if not slabs:
        raise InputError(f"no {'symmetric ' if symmetric else ''}slab found for {hkl} of "
                         f"{structure.composition.reduced_formula}")
    bulk_ratio = structure.composition.reduced_composition
    out = []
    for index, slab in enumerate(sorted(slabs, key=lambda s: s.shift)):
        atoms = _orient(slab.get_orthogonal_c_slab(), vacuum_A)
        if fix_bottom_layers:
            fix_layers(atoms, fix_bottom_layers)
        layer_of = layer_indices(atoms)
        symbols = np.array(atoms.get_chemical_symbols())
        out.append(Termination(
            index=index, shift=float(slab.shift),
            top="".join(sorted(set(symbols[layer_of == layer_of.max()]))),
            bottom="".join(sorted(set(symbols[layer_of == 0]))),
            n_atoms=len(atoms), area_A2=float(np.linalg.norm(np.cross(*atoms.cell[:2]))),
            thickness_A=float(np.ptp(atoms.positions[:, 2])), symmetric=bool(slab.is_symmetric()),
            polar=bool(slab.is_polar()), stoichiometric=slab.composition.reduced_composition == bulk_ratio,
            atoms=atoms))
    return out


def build_slab(bulk: Atoms | Structure, miller: Sequence[int] | str, termination: int = 0, **kwargs) -> Atoms:
    """The (hkl) slab with the given termination index (see ``slab_terminations`` for the options)."""
    terminations = slab_terminations(bulk, miller, **kwargs)
    if not 0 <= termination < len(terminations):
        raise InputError(f"termination {termination} does not exist; {miller} has {len(terminations)} "
                         f"(0-{len(terminations) - 1})")
    return terminations[termination].atoms


def _orient(slab: Structure, vacuum: float) -> Atoms:
    """Slab as Atoms: a along x, b in the xy plane, c along z, atoms contiguous and centred in ``vacuum`` Å."""
    atoms = to_atoms(slab)
    scaled = atoms.get_scaled_positions(wrap=True)
    # unwrap at the largest gap along c so the slab is contiguous
    z = np.sort(scaled[:, 2])
    gaps = np.diff(np.concatenate([z, [z[0] + 1.0]]))
    cut = z[np.argmax(gaps)] + gaps.max() / 2
    scaled[:, 2] = (scaled[:, 2] - cut) % 1.0
    atoms.set_scaled_positions(scaled)
    a, b, _ = atoms.cell[:]
    x = a / np.linalg.norm(a)
    normal = np.cross(a, b) / np.linalg.norm(np.cross(a, b))
    y = np.cross(normal, x)
    frame = np.array([x, y, normal])
    positions = atoms.positions @ frame.T
    thickness = np.ptp(positions[:, 2])
    positions[:, 2] += vacuum / 2 - positions[:, 2].min()
    a_new, b_new = _reduce_2d(a @ frame.T, b @ frame.T)
    atoms.set_cell([a_new, b_new, [0.0, 0.0, thickness + vacuum]], scale_atoms=False)
    atoms.positions = positions
    atoms.pbc = True
    atoms.wrap()
    return atoms


def _reduce_2d(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lagrange-Gauss reduction of an in-plane basis (shortest vectors, angle 60-120 deg), right-handed."""
    while True:
        if np.dot(b, b) < np.dot(a, a):
            a, b = b, a
        step = np.round(np.dot(a, b) / np.dot(a, a))
        if step == 0:
            break
        b = b - step * a
    if np.cross(a, b)[2] < 0:
        b = -b
    return a, b


def layer_indices(atoms: Atoms, tol: float = LAYER_TOL) -> np.ndarray:
    """Layer number of each atom counted from the bottom (layers split where z jumps by more than ``tol`` Å)."""
    z = atoms.positions[:, 2]
    order = np.argsort(z)
    layer = np.zeros(len(atoms), dtype=int)
    layer[order] = np.concatenate([[0], np.cumsum(np.diff(z[order]) > tol)])
    return layer


def fix_layers(atoms: Atoms, n_layers: int) -> None:
    """Fix (FixAtoms) the lowest ``n_layers`` atomic layers in place."""
    from ase.constraints import FixAtoms

    layer = layer_indices(atoms)
    if n_layers < 0 or n_layers > layer.max():
        raise InputError(f"cannot fix {n_layers} layers of a {layer.max() + 1}-layer slab (keep one free)")
    atoms.set_constraint(FixAtoms(indices=np.flatnonzero(layer < n_layers)))
