"""Li hops users study with NEB: start and end structures for named hops in W, Mg, Li and LLZO.

Bulk hops come from the shared site finder (``ssbkit.interfaces.structures.sites.migration_hops``:
Voronoi interstitials, symmetry-distinct hops), picked by geometry; the W(110) adatom hops and the LLZO
grain-boundary hops are placed here. Hosts are built at experimental lattice constants (the NEB runs at
fixed cell). ``full=False`` gives small cells for quick looks, ``full=True`` production sizes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from ase import Atom, Atoms
from ase.build import bcc110, bulk
from ase.constraints import FixAtoms

from ssbkit.errors import CalculationError, InputError
from ssbkit.interfaces.structures.sites import (
    Hop,
    interstitial_sites,
    make_vacancy,
    migration_hops,
)
from ssbkit.results import Result

W_A = 3.165  # Å, bcc W at room temperature
MG_A, MG_C = 3.209, 5.211  # Å, hcp Mg
LI_A = 3.51  # Å, bcc Li at room temperature
LLZO_HOP_MAX_A = 3.0  # Å, longest Li-Li vacancy hop looked for in bulk LLZO


@dataclass
class HopStudy(Result):
    """Endpoints of one hop, what it is, and a published DFT barrier (eV) where one exists."""

    name: str
    description: str
    initial: Atoms
    final: Atoms
    moving_index: int
    reference_barrier: float | None = None
    reference_source: str | None = None


def _with_li(host: Atoms, position: np.ndarray) -> Atoms:
    atoms = host.copy()
    atoms.append(Atom("Li", position))
    return atoms


def _pick_hop(host: Atoms, species: str, mechanism: str, max_length: float, min_width: float,
              accept: Callable[[Hop], bool], what: str) -> Hop:
    """The shortest symmetry-distinct hop accepted by ``accept``, in a supercell ``min_width`` Å wide."""
    for hop in migration_hops(host, species, mechanism, max_length=max_length, supercell_min_length=min_width):
        if accept(hop):
            return hop
    raise CalculationError(f"the site finder found no {what} in {host.get_chemical_formula()}")


def _vector(hop: Hop) -> np.ndarray:
    return hop.end.positions[hop.moving_index] - hop.start.positions[hop.moving_index]


def _study(hop: Hop, name: str, description: str, reference: float | None = None,
           source: str | None = None) -> HopStudy:
    return HopStudy(name, description, hop.start, hop.end, hop.moving_index, reference, source)


def _w_bulk_hop(full: bool, length: float, what: str) -> Hop:
    """Li interstitial hop between tetrahedral sites of bcc W (the site finder's only bcc void), in a
    3x3x3 (54 W) or 5x5x5 (250 W) cell: in 2x2x2 the Li images 6.3 Å apart and the stiff small cell push
    the octahedral site up by 0.15-0.7 eV, depending on the model."""
    host = bulk("W", "bcc", a=W_A, cubic=True)
    return _pick_hop(host, "Li", "interstitial", 1.7, 15.0 if full else 9.0,
                     lambda hop: abs(hop.length_A - length) < 0.01, what)


def w_bulk_tt(full: bool = False) -> HopStudy:
    """Li in bcc W between nearest tetrahedral sites, a*sqrt(2)/4 = 1.12 Å apart."""
    hop = _w_bulk_hop(full, W_A * np.sqrt(2) / 4, "nearest tetrahedral-tetrahedral hop")
    return _study(hop, "w-bulk-tt", "Li in bcc W: tetrahedral -> nearest tetrahedral", 0.28,
                  "DFT NEB, Wang et al., Adv. Mater. 2025")


def w_bulk_tot(full: bool = False) -> HopStudy:
    """Li in bcc W between tetrahedral sites a/2 apart, straight through the octahedral site."""
    hop = _w_bulk_hop(full, W_A / 2, "tetrahedral-tetrahedral hop through the octahedral site")
    return _study(hop, "w-bulk-tot", "Li in bcc W: tetrahedral -> octahedral -> tetrahedral")


def _w110(full: bool) -> Atoms:
    slab = bcc110("W", size=(4, 3, 6) if full else (2, 2, 4), a=W_A, vacuum=8.0, orthogonal=True)
    layers = int(slab.get_tags().max())
    slab.set_constraint(FixAtoms(mask=slab.get_tags() > layers // 2))  # tag 1 is the top layer
    slab.pbc = True  # 16 Å of vacuum separates the periodic images; graph models batch periodic cells
    return slab


def _w110_hop(full: bool, end_xy: np.ndarray, name: str, description: str) -> HopStudy:
    slab = _w110(full)
    top = slab.positions[slab.get_tags() == 1]
    origin = top[np.argmin(np.linalg.norm(top[:, :2] - slab.cell.diagonal()[:2] / 2, axis=1))]
    height = 2.3  # Å above the top layer; relaxation finds the real one
    hollow = np.array([W_A / 2, W_A * np.sqrt(2) / 8])  # threefold hollow of the (a x a*sqrt2) rectangle
    initial = _with_li(slab, origin + [*hollow, height])
    final = _with_li(slab, origin + [*end_xy, height])
    return HopStudy(name, description, initial, final, len(slab), 0.1, "DFT NEB, Wang et al., Adv. Mater. 2025")


def w110_long_bridge(full: bool = False) -> HopStudy:
    """Li adatom on W(110): hollow -> hollow across the long bridge (mirror image of the hollow)."""
    return _w110_hop(full, np.array([W_A / 2, -W_A * np.sqrt(2) / 8]), "w110-long-bridge",
                     "Li on W(110): hollow -> hollow over the long bridge")


def w110_short_bridge(full: bool = False) -> HopStudy:
    """Li adatom on W(110): hollow -> hollow across the short bridge."""
    return _w110_hop(full, np.array([0.0, 3 * W_A * np.sqrt(2) / 8]), "w110-short-bridge",
                     "Li on W(110): hollow -> hollow over the short bridge")


def _mg_host() -> Atoms:
    return bulk("Mg", "hcp", a=MG_A, c=MG_C)


def _mg_interstitial(full: bool, along_c: bool) -> Hop:
    """Li between octahedral sites of hcp Mg: along c (c/2 = 2.61 Å) or in the basal plane (a = 3.21 Å)."""
    host = _mg_host()
    octahedral = {site.label for site in interstitial_sites(host, "Li") if site.kind == "octahedral"}

    def accept(hop: Hop) -> bool:
        step = _vector(hop)
        in_plane = abs(step[2]) < 0.01
        on_axis = np.linalg.norm(step[:2]) < 0.01
        return {hop.start_label, hop.end_label} <= octahedral and (on_axis if along_c else in_plane)

    where = "along c" if along_c else "in the basal plane"
    return _pick_hop(host, "Li", "interstitial", 3.3, 12.0 if full else 6.0, accept,
                     f"octahedral-octahedral hop {where}")


def mg_interstitial_c(full: bool = False) -> HopStudy:
    """Li interstitial in hcp Mg: octahedral -> octahedral along c."""
    return _study(_mg_interstitial(full, True), "mg-interstitial-c",
                  "Li interstitial in hcp Mg: octahedral -> octahedral along c")


def mg_interstitial_basal(full: bool = False) -> HopStudy:
    """Li interstitial in hcp Mg: octahedral -> neighbouring octahedral in the basal plane."""
    return _study(_mg_interstitial(full, False), "mg-interstitial-basal",
                  "Li interstitial in hcp Mg: octahedral -> octahedral in the basal plane")


def _mg_vacancy(full: bool, in_plane: bool) -> Hop:
    """Mg vacancy hop from the site finder with the moving atom made Li: a substitutional Li jumping into
    a vacant nearest Mg site in its basal plane (a = 3.21 Å) or the next one (3.20 Å)."""
    hop = _pick_hop(_mg_host(), "Mg", "vacancy", 3.3, 12.0 if full else 6.0,
                    lambda hop: (abs(_vector(hop)[2]) < 0.01) == in_plane,
                    "vacancy hop " + ("in the basal plane" if in_plane else "out of the basal plane"))
    for atoms in (hop.start, hop.end):
        atoms[hop.moving_index].symbol = "Li"
    return hop


def mg_vacancy_basal(full: bool = False) -> HopStudy:
    """Substitutional Li in hcp Mg hopping into a vacant nearest Mg site in the same basal plane."""
    return _study(_mg_vacancy(full, True), "mg-vacancy-basal",
                  "Li in hcp Mg: vacancy-mediated hop in the basal plane")


def mg_vacancy_c(full: bool = False) -> HopStudy:
    """Substitutional Li in hcp Mg hopping into a vacant nearest Mg site of the next basal plane."""
    return _study(_mg_vacancy(full, False), "mg-vacancy-c",
                  "Li in hcp Mg: vacancy-mediated hop out of the basal plane")


def li_vacancy(full: bool = False) -> HopStudy:
    """Li in bcc Li hopping into a vacant nearest-neighbour site (a*sqrt(3)/2 = 3.04 Å), 3x3x3 or 4x4x4."""
    hop = _pick_hop(bulk("Li", "bcc", a=LI_A, cubic=True), "Li", "vacancy", 3.1, 13.0 if full else 9.0,
                    lambda hop: True, "nearest-neighbour vacancy hop")
    return _study(hop, "li-vacancy", "Li vacancy hop in bcc Li")


def llzo_bulk(full: bool = False, *, bulk: Atoms | None = None) -> HopStudy:
    """Li in cubic LLZO (Ewald-ordered Li7, 192-atom conventional cell; 2x2x2 with ``full``; or ``bulk``, e.g.
    one ensemble member): the shortest symmetry-distinct vacancy hop (tetrahedral 24d -> octahedral 96h, 2.4 Å)."""
    return llzo_bulk_hops(bulk, full=full)[0]


def llzo_bulk_hops(bulk: Atoms | None = None, count: int = 1, *, full: bool = False) -> list[HopStudy]:
    """The ``count`` shortest symmetry-distinct Li vacancy hops of a cubic LLZO cell (as :func:`llzo_bulk`),
    shortest first: an ordered or disordered cell has many, in different Li environments."""
    from ssbkit.interfaces.structures.llzo import cubic_llzo
    from ssbkit.interfaces.structures.sites import migration_hops

    if count < 1:
        raise InputError(f"the number of bulk hops must be at least 1, not {count}")
    host = bulk if bulk is not None else cubic_llzo((2, 2, 2) if full else (1, 1, 1))
    found = migration_hops(host, "Li", "vacancy", max_length=LLZO_HOP_MAX_A)
    if count > len(found):
        raise InputError(f"{count} bulk hops asked for; the cell has {len(found)} symmetry-distinct Li vacancy "
                         f"hop(s) up to {LLZO_HOP_MAX_A} Å")
    return [HopStudy("llzo-bulk", "Li vacancy hop in cubic LLZO" + (
                f" ({hop.start_label} -> {hop.end_label}, {hop.length_A:.2f} Å, rank {rank} by length)"
                if rank > 1 else ""),
                     hop.start, hop.end, hop.moving_index, 0.26,
                     "AIMD activation energy, He et al., npj Comput. Mater. 4, 18 (2018)")
            for rank, hop in enumerate(found[:count], start=1)]


def boundary_hop_pairs(bicrystal: Atoms, across: bool, count: int = 1) -> list[tuple[int, int, float]]:
    """The ``count`` shortest Li vacancy hops next to the boundary plane of a bicrystal (``grain`` array,
    normal along z) as (moving Li, Li whose site it hops into, length Å), shortest first. A hop starts at one
    of the 12 Li nearest the plane; across: into the other grain; along: in the same grain, more parallel to
    the plane than across it. A pair and its reverse are one hop (the same two sites), listed once."""
    from ssbkit.interfaces.structures.grain_boundaries import boundary_plane_z, grain_labels

    if count < 1:
        raise InputError(f"the number of boundary hops must be at least 1, not {count}")
    grain = grain_labels(bicrystal)
    li = np.flatnonzero(np.array(bicrystal.get_chemical_symbols()) == "Li")
    z = bicrystal.positions[:, 2]
    plane = boundary_plane_z(bicrystal)
    candidates = []
    for mover in li[np.argsort(np.abs(z[li] - plane))[:12]]:  # Li in the boundary region
        others = li[li != mover]
        steps = bicrystal.get_distances(mover, others, mic=True, vector=True)
        lengths = np.linalg.norm(steps, axis=1)
        allowed = _boundary_hop_allowed(grain, across, int(mover), steps, others)
        candidates += [(float(lengths[k]), int(mover), int(others[k])) for k in np.flatnonzero(allowed)]
    pairs, seen = [], set()
    for length, mover, vacancy in sorted(candidates):
        if frozenset((mover, vacancy)) not in seen:
            seen.add(frozenset((mover, vacancy)))
            pairs.append((mover, vacancy, length))
    where = "across" if across else "along"
    if not pairs:
        raise CalculationError(f"no Li site to hop to {where} the boundary")
    if count > len(pairs):
        raise InputError(f"{count} hops {where} the boundary asked for; the 12 Li nearest the plane have "
                         f"{len(pairs)} distinct ones")
    return pairs[:count]


def _boundary_hop_allowed(grain: np.ndarray, across: bool, mover: int, steps: np.ndarray,
                          others: np.ndarray) -> np.ndarray:
    """across: into the other grain; along: same grain, more parallel to the plane than across it."""
    if across:
        return grain[others] != grain[mover]
    return (grain[others] == grain[mover]) & (np.abs(steps[:, 2]) < 0.5 * np.linalg.norm(steps, axis=1))


def _llzo_gb_hop(full: bool, across: bool, bulk: Atoms | None = None, expand_times: int | None = None,
                 bicrystal: Atoms | None = None, pair: tuple[int, int] | None = None) -> HopStudy:
    """Shortest Li vacancy hop starting next to a sigma-5 (100) twist boundary of cubic LLZO
    (:func:`boundary_hop_pairs`): into the other grain (across) or within the grain, parallel to the plane
    (along). The bicrystal is ``bicrystal`` (e.g. relaxed; with its ``grain`` array, normal along z), else built
    from ``bulk`` (default the Ewald-ordered cell) with ``expand_times`` CSL periods per grain (default 2 if
    ``full`` else 1, the thinnest pymatgen builds). ``pair``: (moving Li, Li whose site it hops into), indices
    in the bicrystal, instead of the shortest hop (e.g. another of :func:`boundary_hop_pairs`); the description
    names the pair, so that the same hop can be taken on another state of the same bicrystal (the shortest one
    can change as the boundary relaxes)."""
    from ssbkit.interfaces.structures.grain_boundaries import grain_labels, sigma5_twist_bicrystal
    from ssbkit.interfaces.structures.llzo import cubic_llzo

    if expand_times is None:
        expand_times = 2 if full else 1
    gb = bicrystal if bicrystal is not None else sigma5_twist_bicrystal(cubic_llzo() if bulk is None else bulk,
                                                                        expand_times)
    symbols = np.array(gb.get_chemical_symbols())
    where = "across" if across else "along"
    if pair is None:
        mover, vacancy, _ = boundary_hop_pairs(gb, across)[0]
    else:
        mover, vacancy = (int(index) for index in pair)
        if not (0 <= mover < len(gb) and 0 <= vacancy < len(gb)) or mover == vacancy or \
                not (symbols[mover] == symbols[vacancy] == "Li"):
            raise InputError(f"hop pair {pair}: two different Li atoms of the {len(gb)}-atom bicrystal are needed")
    step = gb.get_distance(mover, vacancy, mic=True, vector=True)
    if not _boundary_hop_allowed(grain_labels(gb), across, mover, step[None, :], np.array([vacancy]))[0]:
        raise InputError(f"hop pair {pair} is not a hop {where} the boundary")
    initial = make_vacancy(gb, vacancy)
    moving = mover - (1 if vacancy < mover else 0)
    final = initial.copy()
    final.positions[moving] += step
    return HopStudy(f"llzo-gb-{where}", f"Li vacancy hop {where} a sigma-5 (100) twist boundary of cubic LLZO "
                    f"(bicrystal Li {mover} into the site of Li {vacancy}, {np.linalg.norm(step):.2f} Å)",
                    initial, final, moving)


def llzo_gb_along(full: bool = False, *, bulk: Atoms | None = None, expand_times: int | None = None,
                  bicrystal: Atoms | None = None, pair: tuple[int, int] | None = None) -> HopStudy:
    """Li vacancy hop next to a sigma-5 (100) LLZO boundary, staying in its grain (~1900 atoms: GPU);
    keywords as in :func:`_llzo_gb_hop`."""
    return _llzo_gb_hop(full, False, bulk, expand_times, bicrystal, pair)


def llzo_gb_across(full: bool = False, *, bulk: Atoms | None = None, expand_times: int | None = None,
                   bicrystal: Atoms | None = None, pair: tuple[int, int] | None = None) -> HopStudy:
    """Li vacancy hop across a sigma-5 (100) LLZO boundary into the other grain (~1900 atoms: GPU);
    keywords as in :func:`_llzo_gb_hop`."""
    return _llzo_gb_hop(full, True, bulk, expand_times, bicrystal, pair)


STUDIES: dict[str, Callable[[bool], HopStudy]] = {
    "w-bulk-tt": w_bulk_tt,
    "w-bulk-tot": w_bulk_tot,
    "w110-long-bridge": w110_long_bridge,
    "w110-short-bridge": w110_short_bridge,
    "mg-interstitial-c": mg_interstitial_c,
    "mg-interstitial-basal": mg_interstitial_basal,
    "mg-vacancy-basal": mg_vacancy_basal,
    "mg-vacancy-c": mg_vacancy_c,
    "li-vacancy": li_vacancy,
    "llzo-bulk": llzo_bulk,
    "llzo-gb-along": llzo_gb_along,
    "llzo-gb-across": llzo_gb_across,
}


def build_study(name: str, full: bool = False) -> HopStudy:
    """Endpoints for a named study (see ``STUDIES``); small cells unless ``full``."""
    if name not in STUDIES:
        raise InputError(f"unknown NEB study {name!r}; choose from {', '.join(STUDIES)}")
    return STUDIES[name](full)
