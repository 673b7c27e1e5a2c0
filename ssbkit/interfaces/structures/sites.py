"""Li sites and migration hops: interstitial voids, vacancies, symmetry-distinct hops as NEB endpoints.

Interstitial sites are the vertices of the periodic Voronoi tessellation of the host (the centres of the
largest empty spheres between atoms), merged when closer than ``merge_tol`` and kept when their distance to
the nearest host atom lies in [min_radius, max_radius]. Sites and hops are grouped by the space-group
operations of the host (spglib); at interfaces and grain boundaries, with little symmetry, most are
distinct. Each hop comes as two supercells, start and end, with the same atom order and the moving atom
at ``moving_index``, ready for an NEB.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import spglib
from ase import Atoms
from ase.neighborlist import neighbor_list
from scipy.spatial import Voronoi, cKDTree

from ssbkit.errors import InputError
from ssbkit.results import Result

COORDINATION_NAMES = {4: "tetrahedral", 6: "octahedral", 3: "trigonal", 8: "cubic"}


@dataclass
class Site(Result):
    """A distinct Li site: position (Å, one representative), label, kind, coordination by host atoms,
    distance to the nearest host atom (Å) and the number of equivalent sites in the cell."""

    label: str
    kind: str
    position: np.ndarray
    coordination: int
    nearest_distance: float
    multiplicity: int
    index: int | None = None  # atom index for an occupied (vacancy) site


@dataclass
class Hop(Result):
    """A symmetry-distinct migration hop: start and end supercells (same atom order), hop length (Å),
    mechanism ("vacancy" or "interstitial"), site labels, index of the moving atom, how many
    equivalent hops the cell holds, and the clearance at the hop midpoint (Å to the nearest other atom)."""

    start: Atoms
    end: Atoms
    length_A: float
    kind: str
    start_label: str
    end_label: str
    moving_index: int
    multiplicity: int
    midpoint_clearance: float = field(default=float("nan"))


def _symmetry(atoms: Atoms, types: np.ndarray, symprec: float) -> tuple[np.ndarray, np.ndarray]:
    """Rotations and fractional translations of the host's space group (identity only without 3D pbc)."""
    if not atoms.pbc.all():
        return np.eye(3, dtype=int)[None], np.zeros((1, 3))
    dataset = spglib.get_symmetry((atoms.cell[:], atoms.get_scaled_positions(), types), symprec=symprec)
    if dataset is None:
        return np.eye(3, dtype=int)[None], np.zeros((1, 3))
    return dataset["rotations"], dataset["translations"]


def _orbits(frac: np.ndarray, rotations, translations, tol: float = 1e-3) -> np.ndarray:
    """Orbit id of each fractional position under the operations (positions compared modulo lattice)."""
    labels = -np.ones(len(frac), dtype=int)
    next_label = 0
    for i in range(len(frac)):
        if labels[i] >= 0:
            continue
        images = (np.einsum("kij,j->ki", rotations, frac[i]) + translations) % 1.0
        diff = frac[None, :, :] - images[:, None, :]
        diff -= np.round(diff)
        same = (np.abs(diff) < tol).all(axis=2).any(axis=0)
        labels[same & (labels < 0)] = next_label
        next_label += 1
    return labels


def _point_neighbours(atoms: Atoms, points: np.ndarray, cutoff: float):
    """(point index, atom index, distance Å) for every atom image within ``cutoff`` of each point."""
    repeats = [int(np.ceil(cutoff / w)) if p else 0
               for w, p in zip(_widths(atoms.cell[:]), atoms.pbc, strict=True)]
    shifts = np.array([[a, b, c] for a in range(-repeats[0], repeats[0] + 1)
                       for b in range(-repeats[1], repeats[1] + 1) for c in range(-repeats[2], repeats[2] + 1)])
    images = (atoms.positions[None, :, :] + (shifts @ atoms.cell[:])[:, None, :]).reshape(-1, 3)
    pairs = cKDTree(points).sparse_distance_matrix(cKDTree(images), cutoff, output_type="coo_matrix")
    return pairs.row, pairs.col % len(atoms), pairs.data


def _widths(cell: np.ndarray) -> np.ndarray:
    """Perpendicular widths (Å) of a cell along its three axes."""
    volume = abs(np.linalg.det(cell))
    return np.array([volume / np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3])) for k in range(3)])


def _environment(atoms: Atoms, points: np.ndarray, cutoff: float, species: str = "Li",
                 skip: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For each point: distance (Å) to the nearest atom, and its coordination, the number of atoms other
    than ``species`` (all atoms if there are no others) within 1.25 times the nearest such distance.
    ``skip[k]`` is an atom index to ignore for point k (the atom sitting on it), or -1."""
    i, j, d = _point_neighbours(atoms, points, cutoff)
    if skip is not None:
        not_self = ~((j == skip[i]) & (d < 1e-6))
        i, j, d = i[not_self], j[not_self], d[not_self]
    nearest = np.full(len(points), np.inf)
    np.minimum.at(nearest, i, d)
    symbols = np.array(atoms.get_chemical_symbols())
    counted = symbols[j] != species if (symbols != species).any() else np.ones(len(j), dtype=bool)
    nearest_counted = np.full(len(points), np.inf)
    np.minimum.at(nearest_counted, i[counted], d[counted])
    coordination = np.zeros(len(points), dtype=int)
    within = counted & (d <= 1.25 * nearest_counted[i])
    np.add.at(coordination, i[within], 1)
    return nearest, coordination


def _voronoi_vertices(atoms: Atoms, margin: float = 6.0) -> np.ndarray:
    """Fractional Voronoi vertices inside the cell, from the atoms and their periodic images within
    ``margin`` Å of it (enough to close the cells of the atoms inside)."""
    shifts = np.array([[a, b, c] for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1)])
    frac = atoms.get_scaled_positions(wrap=True)
    tiled = (frac[None, :, :] + shifts[:, None, :]).reshape(-1, 3)
    pad = np.minimum(margin / _widths(atoms.cell[:]), 1.0)
    tiled = tiled[((tiled >= -pad) & (tiled <= 1 + pad)).all(axis=1)]
    vertices = Voronoi(tiled @ atoms.cell[:]).vertices
    vfrac = np.linalg.solve(atoms.cell[:].T, vertices.T).T
    inside = ((vfrac >= -1e-6) & (vfrac < 1 - 1e-6)).all(axis=1)
    return vfrac[inside] % 1.0


def _merge(atoms: Atoms, frac: np.ndarray, radius: np.ndarray, tol: float) -> np.ndarray:
    """Keep, within every cluster of points closer than ``tol`` Å, the one farthest from the host."""
    order = np.argsort(-radius)
    kept: list[int] = []
    cell = atoms.cell[:]
    for k in order:
        if kept:
            diff = frac[kept] - frac[k]
            diff -= np.round(diff)
            if (np.linalg.norm(diff @ cell, axis=1) < tol).any():
                continue
        kept.append(int(k))
    return np.array(kept, dtype=int)


def interstitial_sites(
    atoms: Atoms,
    species: str = "Li",
    min_radius: float = 1.4,
    max_radius: float = 3.0,
    merge_tol: float = 0.5,
    symprec: float = 0.01,
) -> list[Site]:
    """Distinct interstitial sites of a structure (Voronoi analysis, module docstring).

    ``min_radius``/``max_radius`` (Å) bound the distance to the nearest atom: too small is no room for Li,
    too large is vacuum. Returns one representative per symmetry orbit, largest voids first; all orbit
    members are in ``all_interstitial_positions``.
    """
    sites, _ = _interstitials_with_orbits(atoms, species, min_radius, max_radius, merge_tol, symprec)
    return sites


def _interstitials_with_orbits(atoms, species, min_radius, max_radius, merge_tol, symprec):
    if len(atoms) == 0:
        raise InputError("cannot find interstitial sites in an empty structure")
    if not atoms.pbc.all():
        raise InputError("interstitial search needs a periodic cell (pbc on all axes; slabs keep vacuum)")
    frac = _voronoi_vertices(atoms)
    cart = frac @ atoms.cell[:]
    nearest, shell = _environment(atoms, cart, 1.25 * max_radius + 0.1, species)
    ok = (nearest >= min_radius) & (nearest <= max_radius)
    if not ok.any():
        raise InputError(f"no interstitial void with {min_radius}-{max_radius} A clearance in "
                         f"{atoms.get_chemical_formula()}")
    frac, nearest, shell = frac[ok], nearest[ok], shell[ok]
    kept = _merge(atoms, frac, nearest, merge_tol)
    frac, nearest, shell = frac[kept], nearest[kept], shell[kept]
    rotations, translations = _symmetry(atoms, atoms.numbers, symprec)
    orbit = _orbits(frac, rotations, translations, tol=max(symprec, 1e-3) * 5)
    sites = []
    for label_id, o in enumerate(sorted(set(orbit), key=lambda o: -nearest[orbit == o].max())):
        members = np.flatnonzero(orbit == o)
        rep = members[0]
        n = int(shell[rep])
        kind = COORDINATION_NAMES.get(n, f"{n}-fold")
        sites.append(Site(label=f"i{label_id}", kind=kind, position=frac[rep] @ atoms.cell[:],
                          coordination=n, nearest_distance=float(nearest[rep]), multiplicity=len(members)))
        orbit[members] = -(label_id + 1)
    return sites, (frac, -orbit - 1)


def all_interstitial_positions(atoms: Atoms, species: str = "Li", min_radius: float = 1.4,
                               max_radius: float = 3.0, merge_tol: float = 0.5,
                               symprec: float = 0.01) -> tuple[np.ndarray, list[str]]:
    """Every interstitial site in the cell (Cartesian, Å) and its distinct-site label."""
    sites, (frac, orbit) = _interstitials_with_orbits(atoms, species, min_radius, max_radius, merge_tol,
                                                      symprec)
    return frac @ atoms.cell[:], [sites[o].label for o in orbit]


def vacancy_sites(atoms: Atoms, species: str = "Li", symprec: float = 0.01) -> list[Site]:
    """Distinct sites of ``species`` (one per symmetry orbit), i.e. the distinct vacancies it can form."""
    indices = np.flatnonzero(np.array(atoms.get_chemical_symbols()) == species)
    if len(indices) == 0:
        raise InputError(f"no {species} in {atoms.get_chemical_formula()} to make a vacancy")
    orbit = _atom_orbits(atoms, symprec)[indices]
    nearest, coordination = _environment(atoms, atoms.positions[indices], 6.0, species, skip=indices)
    sites = []
    for label_id, o in enumerate(dict.fromkeys(orbit)):
        members = indices[orbit == o]
        k = int(np.flatnonzero(orbit == o)[0])
        n = int(coordination[k])
        sites.append(Site(label=f"{species}{label_id}", kind=COORDINATION_NAMES.get(n, f"{n}-fold"),
                          position=atoms.positions[members[0]].copy(), coordination=n,
                          nearest_distance=float(nearest[k]), multiplicity=len(members), index=int(members[0])))
    return sites


def make_vacancy(atoms: Atoms, index: int) -> Atoms:
    """A copy of ``atoms`` without atom ``index``."""
    if not 0 <= index < len(atoms):
        raise InputError(f"atom index {index} out of range for {len(atoms)} atoms")
    out = atoms.copy()
    del out[index]
    return out


def _atom_orbits(atoms: Atoms, symprec: float) -> np.ndarray:
    rotations, translations = _symmetry(atoms, atoms.numbers, symprec)
    return _orbits(atoms.get_scaled_positions(), rotations, translations, tol=max(symprec, 1e-3) * 5)


def supercell_repeats(atoms: Atoms, min_length: float) -> tuple[int, int, int]:
    """Repeats along each periodic axis so that the perpendicular width reaches ``min_length`` (Å)."""
    return tuple(max(1, int(np.ceil(min_length / width - 1e-9))) if periodic else 1
                 for width, periodic in zip(_widths(atoms.cell[:]), atoms.pbc, strict=True))


def _distinct_hops(frac, cell, rotations, translations, max_length, tol=5e-3):
    """Site pairs (i, j, lattice shift) within ``max_length`` Å grouped into symmetry classes; a hop and its
    reverse are one hop. Returns [(i, j, shift, length, number of such hops in the cell)], shortest first.

    Each new class stores its whole orbit (images of the hop and of its reverse under every operation);
    a later pair joins the class whose orbit contains it up to a lattice translation."""
    sites = Atoms("X" * len(frac), scaled_positions=frac, cell=cell, pbc=True)
    i_list, j_list, shifts, dists = neighbor_list("ijSd", sites, max_length)
    candidates = sorted(zip(i_list, j_list, shifts, dists, strict=True), key=lambda t: (round(t[3], 4), t[0], t[1]))
    if len(rotations) == 1:  # no symmetry (interfaces, grain boundaries): every undirected pair is distinct
        return [(int(i), int(j), shift, float(d), 1) for i, j, shift, d in candidates
                if (i, tuple(shift)) < (j, tuple(-shift))]
    classes: list[list] = []
    orbit_a, orbit_b, orbit_class = np.empty((0, 3)), np.empty((0, 3)), np.empty(0, dtype=int)
    for i, j, shift, d in candidates:
        a, b = frac[i], frac[j] + shift
        offset = np.round(orbit_a - a)
        hit = (np.abs(orbit_a - a - offset) < tol).all(axis=1) & (np.abs(orbit_b - b - offset) < tol).all(axis=1)
        if hit.any():
            classes[orbit_class[np.argmax(hit)]][4] += 1
            continue
        images_a = np.einsum("kij,j->ki", rotations, a) + translations
        images_b = np.einsum("kij,j->ki", rotations, b) + translations
        orbit_a = np.vstack([orbit_a, images_a, images_b])
        orbit_b = np.vstack([orbit_b, images_b, images_a])
        orbit_class = np.concatenate([orbit_class, np.full(2 * len(images_a), len(classes))])
        classes.append([int(i), int(j), shift.copy(), float(d), 1])
    # each undirected hop appears twice in the neighbour list (i->j and j->i)
    return [(i, j, shift, d, max(1, count // 2)) for i, j, shift, d, count in classes]


def migration_hops(
    atoms: Atoms,
    species: str = "Li",
    mechanism: str = "vacancy",
    max_length: float = 3.5,
    min_length: float = 1.0,
    supercell_min_length: float = 8.0,
    min_radius: float = 1.4,
    max_radius: float = 3.0,
    symprec: float = 0.01,
) -> list[Hop]:
    """Symmetry-distinct migration hops of ``species`` between ``min_length`` and ``max_length`` (Å),
    shortest first (sub-Ångström "hops" join voids that are one site in practice).

    ``mechanism="vacancy"``: an atom of ``species`` moves into a neighbouring vacant site of the same
    species (start: destination emptied; end: the atom moved there). ``mechanism="interstitial"``: one extra
    ``species`` atom hops between interstitial sites of ``atoms``. Start and end are supercells at least
    ``supercell_min_length`` Å wide along periodic axes, with identical atom order.
    """
    if mechanism not in ("vacancy", "interstitial"):
        raise InputError(f"unknown mechanism {mechanism!r}; choose 'vacancy' or 'interstitial'")
    if max_length <= 0:
        raise InputError("max_length must be positive (Å)")
    host = atoms.copy()
    host.set_constraint()
    host.calc = None
    if mechanism == "vacancy":
        symbols = np.array(host.get_chemical_symbols())
        indices = np.flatnonzero(symbols == species)
        if len(indices) == 0:
            raise InputError(f"no {species} in {host.get_chemical_formula()}: use mechanism='interstitial'")
        orbit = _atom_orbits(host, symprec)[indices]
        labels = [f"{species}{k}" for k in _relabel(orbit)]
        frac = host.get_scaled_positions()[indices]
        rotations, translations = _symmetry(host, host.numbers, symprec)
    else:
        positions, labels = all_interstitial_positions(host, species, min_radius, max_radius, symprec=symprec)
        frac = np.linalg.solve(host.cell[:].T, positions.T).T % 1.0
        types = np.concatenate([host.numbers, np.zeros(len(frac), dtype=int)])
        with_sites = host + Atoms("X" * len(frac), scaled_positions=frac, cell=host.cell)
        rotations, translations = _symmetry(with_sites, types, symprec)
    classes = [c for c in _distinct_hops(frac, host.cell[:], rotations, translations, max_length)
               if c[3] >= min_length]
    if not classes:
        raise InputError(f"no {species} {mechanism} hop shorter than {max_length} A; raise max_length")
    repeats = supercell_repeats(host, supercell_min_length)
    hops = []
    for i, j, shift, length, count in classes:
        start_pos = frac[i] @ host.cell[:]
        end_pos = (frac[j] + shift) @ host.cell[:]
        big = host.repeat(repeats)
        if mechanism == "vacancy":
            moving = int(indices[i])
            destination = _index_at(big, end_pos)
            if destination == moving:
                raise InputError("supercell too small: the hop ends on the moving atom's own image; "
                                 "raise supercell_min_length")
            start = big.copy()
            del start[destination]
            moving_index = moving if moving < destination else moving - 1
        else:
            start = big + Atoms(species, positions=[start_pos])
            moving_index = len(start) - 1
        start.wrap()
        end = start.copy()  # identical except the moving atom, displaced by the hop vector (not wrapped)
        end.positions[moving_index] = start.positions[moving_index] + (end_pos - start_pos)
        clearance = _clearance(start, moving_index, 0.5 * (start_pos + end_pos))
        hops.append(Hop(start=start, end=end, length_A=length, kind=mechanism, start_label=labels[i],
                        end_label=labels[j], moving_index=moving_index, multiplicity=count,
                        midpoint_clearance=clearance))
    return hops


def _relabel(orbit: np.ndarray) -> np.ndarray:
    order = {o: k for k, o in enumerate(dict.fromkeys(orbit))}
    return np.array([order[o] for o in orbit])


def _index_at(atoms: Atoms, position: np.ndarray, tol: float = 1e-3) -> int:
    diff = atoms.get_scaled_positions() - np.linalg.solve(atoms.cell[:].T, position)
    diff -= np.round(diff)
    distance = np.linalg.norm(diff @ atoms.cell[:], axis=1)
    k = int(np.argmin(distance))
    if distance[k] > tol:
        raise InputError("hop destination does not coincide with a lattice site")  # internal consistency
    return k


def _clearance(atoms: Atoms, moving_index: int, point: np.ndarray) -> float:
    """Distance (Å) from the hop midpoint to the nearest atom other than the moving one."""
    others = atoms.copy()
    del others[moving_index]
    nearest, _ = _environment(others, point[None, :], 6.0)
    return float(nearest[0])


def site_kind(atoms: Atoms, index: int, shell_factor: float = 1.5) -> str:
    """Kind of the site atom ``index`` occupies, from the host atoms (all but its own species) within
    ``shell_factor`` times the nearest host distance: "tetrahedral", "octahedral", ... or "N-fold".

    The factor 1.5 separates the distorted octahedral site of bcc metals (2 + 4 neighbours at a/2 and
    a/sqrt(2), ratio 1.41) from the tetrahedral one (4 neighbours, next shell at ratio 1.61).
    """
    species = atoms[index].symbol
    host = np.array([s != species for s in atoms.get_chemical_symbols()])
    if not host.any():
        host[:] = True
        host[index] = False
    i, j, d = neighbor_list("ijd", atoms, 6.0)
    mine = (i == index) & host[j]
    if not mine.any():
        return "isolated"
    distances = d[mine]
    count = int((distances <= shell_factor * distances.min()).sum())
    return COORDINATION_NAMES.get(count, f"{count}-fold")
