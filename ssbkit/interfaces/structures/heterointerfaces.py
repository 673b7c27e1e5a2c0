"""Lattice-matched heterointerfaces (pymatgen ZSL + CoherentInterfaceBuilder underneath).

``find_matches`` lists candidate supercell matches (area, strain, atom count); ``build_interface`` builds
one with a chosen pair of terminations, a film-substrate gap and vacuum. Two pymatgen pitfalls are handled:

* Terminations whose labels coincide (same species and slab symmetry, e.g. the two prism terminations
  of hcp Mg(10-10)) are merged by CoherentInterfaceBuilder's default labelling, silently dropping one;
  ssbkit always builds with ``label_index=True`` so every distinct termination is kept.
* A ZSL match can map onto a non-integer or singular (zero-determinant) supercell of the slab actually
  cut for a termination; pymatgen then fails deep inside or builds a wrong cell. Each match is checked
  against every termination's slab and dropped from the table if it does not give a proper supercell.

The film is strained onto the substrate. Each atom of the built cell carries ``interface_part``:
0 substrate, 1 film (used by ssbkit.workflows.adhesion).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from pymatgen.core import Structure

from ssbkit.errors import InputError
from ssbkit.interfaces.structures.checks import conventional_cell, min_distance
from ssbkit.io import to_atoms, to_structure
from ssbkit.interfaces.structures.slabs import MAX_ATOMS, check_size, parse_miller, slab_size
from ssbkit.results import Result


@dataclass
class InterfaceMatch(Result):
    """A candidate coincidence supercell: area (Å², the substrate supercell, which the film is strained
    onto), film strain (von Mises of the Green-Lagrange strain
    and largest principal strain, both %), in-plane supercell matrices of film and substrate, and the
    number of atoms of the built cell for the requested layer counts."""

    index: int
    area_A2: float
    von_mises_strain_pct: float
    max_strain_pct: float
    film_supercell: list[list[int]]
    substrate_supercell: list[list[int]]
    n_atoms: int


@dataclass
class InterfaceSearch(Result):
    """Matches of a film (hkl) on a substrate (hkl), smallest first, and the distinct termination pairs."""

    film: str
    substrate: str
    film_miller: tuple[int, int, int]
    substrate_miller: tuple[int, int, int]
    matches: list[InterfaceMatch]
    terminations: list[str]
    dropped_matches: int


def _builder(film: Structure, substrate: Structure, film_miller, substrate_miller, max_area: float,
             max_strain: float):
    from pymatgen.analysis.interfaces.coherent_interfaces import CoherentInterfaceBuilder
    from pymatgen.analysis.interfaces.zsl import ZSLGenerator

    zsl = ZSLGenerator(max_area=max_area, max_length_tol=max_strain, max_angle_tol=max_strain,
                       max_area_ratio_tol=max(0.09, 2 * max_strain), bidirectional=True)
    return CoherentInterfaceBuilder(substrate_structure=substrate, film_structure=film, film_miller=film_miller,
                                    substrate_miller=substrate_miller, zslgen=zsl, label_index=True,
                                    filter_out_sym_slabs=False)


def _slab_generator(structure: Structure, miller, layers: int):
    """The SlabGenerator settings CoherentInterfaceBuilder uses, so supercell checks see the same slabs."""
    from pymatgen.core.surface import SlabGenerator

    return SlabGenerator(structure, miller, min_slab_size=layers, min_vacuum_size=3, in_unit_planes=True,
                         center_slab=True, primitive=True, reorient_lattice=False)


def _supercell_matrix(slab_lattice: np.ndarray, target: np.ndarray) -> np.ndarray | None:
    """Integer 2x2 matrix taking the slab's in-plane vectors to ``target``; None if non-integer or singular."""
    transform = np.dot(target, np.linalg.pinv(slab_lattice[:2]))
    rounded = np.round(transform)
    if not np.allclose(transform, rounded, atol=1e-4) or abs(np.linalg.det(rounded)) < 0.5:
        return None
    return rounded.astype(int)


def _strain(match) -> tuple[float, float]:
    from pymatgen.analysis.elasticity.strain import Deformation

    strain = Deformation(match.match_transformation).green_lagrange_strain
    return 100 * float(strain.von_mises_strain), 100 * float(np.abs(np.linalg.eigvalsh(strain)).max())


def _search(film, substrate, film_miller, substrate_miller, max_area, max_strain, film_layers,
            substrate_layers, max_atoms):
    """ZSL matches that every termination's slabs can be built on, fewest atoms first; InputError if none,
    or if an interface of ``max_area`` could hold more than ``max_atoms`` atoms (checked before searching)."""
    if not (0 < max_area < math.inf and 0 < max_strain < math.inf):
        raise InputError("max_area and max_strain must be positive and finite")
    if film_layers < 1 or substrate_layers < 1:
        raise InputError("film_layers and substrate_layers must be >= 1")
    film_s, sub_s = conventional_cell(film), conventional_cell(substrate)
    f_hkl, s_hkl = parse_miller(film_miller), parse_miller(substrate_miller)
    per_area = sum(n / area for n, area in (slab_size(film_s, f_hkl, film_layers),
                                            slab_size(sub_s, s_hkl, substrate_layers)))
    check_size(per_area * max_area, max_atoms, f"an interface of up to max_area = {max_area:g} A^2 "
               f"({film_layers} + {substrate_layers} layers)")
    builder = _builder(film_s, sub_s, f_hkl, s_hkl, max_area, max_strain)
    film_gen, sub_gen = _slab_generator(film_s, f_hkl, film_layers), _slab_generator(sub_s, s_hkl, substrate_layers)
    shifts = [builder._terminations[t] for t in builder.terminations]  # (film shift, substrate shift)
    film_slabs = [film_gen.get_slab(shift=shift) for shift in dict.fromkeys(f for f, _ in shifts)]
    sub_slabs = [sub_gen.get_slab(shift=shift) for shift in dict.fromkeys(s for _, s in shifts)]
    rows, kept, dropped, seen = [], [], 0, set()
    for match in builder.zsl_matches:
        f_mats = [_supercell_matrix(s.lattice.matrix, match.film_sl_vectors) for s in film_slabs]
        s_mats = [_supercell_matrix(s.lattice.matrix, match.substrate_sl_vectors) for s in sub_slabs]
        if any(m is None for m in f_mats + s_mats):
            dropped += 1
            continue
        von_mises, principal = _strain(match)
        n_atoms = max(len(s) for s in film_slabs) * abs(round(np.linalg.det(f_mats[0]))) + \
            max(len(s) for s in sub_slabs) * abs(round(np.linalg.det(s_mats[0])))
        key = (round(float(match.match_area), 2), round(von_mises, 3), n_atoms)
        if key in seen:
            continue
        seen.add(key)
        area = float(np.linalg.norm(np.cross(*np.asarray(match.substrate_sl_vectors, dtype=float))))
        rows.append((area, von_mises, principal, f_mats[0], s_mats[0], n_atoms))
        kept.append(match)
    order = sorted(range(len(rows)), key=lambda k: (rows[k][5], rows[k][1]))
    matches = [InterfaceMatch(index=rank, area_A2=float(rows[k][0]), von_mises_strain_pct=rows[k][1],
                              max_strain_pct=rows[k][2], film_supercell=rows[k][3].tolist(),
                              substrate_supercell=rows[k][4].tolist(), n_atoms=int(rows[k][5]))
               for rank, k in enumerate(order)]
    if not matches:
        raise InputError(_no_match_message(film, substrate, film_miller, substrate_miller, max_area, max_strain,
                                           film_layers, substrate_layers, dropped))
    return builder, [kept[k] for k in order], matches, dropped


def find_matches(
    film: Atoms | Structure,
    substrate: Atoms | Structure,
    film_miller: Sequence[int] | str,
    substrate_miller: Sequence[int] | str,
    max_area: float = 150.0,
    max_strain: float = 0.05,
    film_layers: int = 3,
    substrate_layers: int = 3,
    max_matches: int = 20,
    max_atoms: int = MAX_ATOMS,
) -> InterfaceSearch:
    """Candidate matches of film (hkl) on substrate (hkl), fewest atoms first.

    ``max_area`` (Å²) bounds both film and substrate supercells; ``max_strain`` (fraction) the ZSL vector
    length and angle mismatch. Raises InputError naming the best match found with loose tolerances if none fits,
    and, before searching, if an interface of ``max_area`` could hold more than ``max_atoms`` atoms.
    """
    builder, _, matches, dropped = _search(film, substrate, film_miller, substrate_miller, max_area,
                                           max_strain, film_layers, substrate_layers, max_atoms)
    names = (_formula(film), _formula(substrate))
    return InterfaceSearch(film=names[0], substrate=names[1], film_miller=parse_miller(film_miller),
                           substrate_miller=parse_miller(substrate_miller), matches=matches[:max_matches],
                           terminations=[f"{f} | {s}" for f, s in builder.terminations], dropped_matches=dropped)


def _formula(structure: Atoms | Structure) -> str:
    return to_structure(structure).composition.reduced_formula


def _no_match_message(film, substrate, film_miller, substrate_miller, max_area, max_strain, film_layers,
                      substrate_layers, dropped) -> str:
    head = (f"no {_formula(film)}{parse_miller(film_miller)} | {_formula(substrate)}{parse_miller(substrate_miller)} "
            f"match within {100 * max_strain:.3g}% strain and {max_area:.0f} A^2")
    if dropped:
        head += f" ({dropped} matches dropped: non-integer or singular slab supercell)"
    best = _best_loose_match(film, substrate, film_miller, substrate_miller, max(2 * max_area, 100.0))
    if best is None:
        return head + "; none found even at 15% mismatch"
    area, von_mises = best
    return (head + f"; best found: area {area:.1f} A^2, strain {von_mises:.2f}% (von Mises); "
            "raise max_strain or max_area")


def _best_loose_match(film, substrate, film_miller, substrate_miller, max_area) -> tuple[float, float] | None:
    """(area Å², von Mises strain %) of the least-strained ZSL match at 15% tolerance, smallest areas only."""
    from pymatgen.analysis.interfaces.zsl import ZSLGenerator

    vectors = []
    for structure, miller in ((film, film_miller), (substrate, substrate_miller)):
        slab = _slab_generator(conventional_cell(structure), parse_miller(miller), 1).get_slab(shift=0)
        vectors.append(slab.lattice.matrix[:2])
    zsl = ZSLGenerator(max_area=max_area, max_length_tol=0.15, max_angle_tol=0.15, max_area_ratio_tol=0.3,
                       bidirectional=True)
    candidates = [(float(np.linalg.norm(np.cross(*np.asarray(m.substrate_sl_vectors, dtype=float)))),
                   _strain(m)[0]) for m in zsl(vectors[0], vectors[1], lowest=True)]
    return min(candidates, key=lambda c: (c[1], c[0])) if candidates else None


def build_interface(
    film: Atoms | Structure,
    substrate: Atoms | Structure,
    film_miller: Sequence[int] | str,
    substrate_miller: Sequence[int] | str,
    match: int = 0,
    termination: int = 0,
    film_layers: int = 3,
    substrate_layers: int = 3,
    gap_A: float = 2.0,
    vacuum_A: float = 15.0,
    max_area: float = 150.0,
    max_strain: float = 0.05,
    max_atoms: int = MAX_ATOMS,
) -> Atoms:
    """Build match ``match`` (index in ``find_matches``) with termination pair ``termination``.

    ``gap_A``: distance (Å) between the top substrate plane and the bottom film plane; ``vacuum_A`` above
    the film. Per-atom array ``interface_part``: 0 substrate, 1 film. ``info`` holds the match data.
    ``max_atoms`` as in :func:`find_matches`.
    """
    if not (0 <= gap_A < math.inf and 0 <= vacuum_A < math.inf):
        raise InputError("gap_A and vacuum_A must be >= 0 and finite")
    builder, kept, matches, _ = _search(film, substrate, film_miller, substrate_miller, max_area,
                                        max_strain, film_layers, substrate_layers, max_atoms)
    if not 0 <= match < len(matches):
        raise InputError(f"match {match} does not exist; {len(matches)} matches (0-{len(matches) - 1})")
    if not 0 <= termination < len(builder.terminations):
        raise InputError(f"termination {termination} does not exist; choose 0-{len(builder.terminations) - 1}: "
                         + ", ".join(f"{i}: {f} | {s}" for i, (f, s) in enumerate(builder.terminations)))
    builder.zsl_matches = [kept[match]]
    interface = next(builder.get_interfaces(builder.terminations[termination], gap=gap_A,
                                            vacuum_over_film=vacuum_A, film_thickness=film_layers,
                                            substrate_thickness=substrate_layers))
    labels = interface.site_properties["interface_label"]
    atoms = to_atoms(Structure.from_sites(interface.sites))
    atoms.set_array("interface_part", np.array([1 if label == "film" else 0 for label in labels], dtype=int))
    chosen = matches[match]
    atoms.info.update(film_miller=str(parse_miller(film_miller)), substrate_miller=str(parse_miller(substrate_miller)),
                      termination="{} | {}".format(*builder.terminations[termination]),
                      area_A2=float(np.linalg.norm(np.cross(atoms.cell[0], atoms.cell[1]))),
                      von_mises_strain_pct=chosen.von_mises_strain_pct, gap_A=gap_A)
    shortest = min_distance(atoms)
    if shortest < 0.5:
        raise InputError(f"built interface has atoms {shortest:.2f} A apart; raise gap_A")
    return atoms
