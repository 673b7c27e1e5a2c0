"""Li hops users study with NEB: start and end structures built from known site coordinates.

Hosts are built at experimental lattice constants (fixed cell, as the NEB runs). ``full=False`` gives
small cells for quick looks; ``full=True`` production sizes. Fractional site coordinates refer to the
conventional cell of the host.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from ase import Atom, Atoms
from ase.build import bcc110, bulk
from ase.constraints import FixAtoms

from ssbkit.errors import InputError
from ssbkit.results import Result

W_A = 3.165  # Å, bcc W at room temperature
MG_A, MG_C = 3.209, 5.211  # Å, hcp Mg
LI_A = 3.51  # Å, bcc Li at room temperature


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


def _interstitial_hop(host: Atoms, conventional: np.ndarray, start: tuple[float, float, float],
                      end: tuple[float, float, float]) -> tuple[Atoms, Atoms]:
    """Li at fractional ``start`` and ``end`` of the conventional cell (rows of ``conventional``)."""
    return (_with_li(host, np.dot(start, conventional)), _with_li(host, np.dot(end, conventional)))


def _w_bulk(full: bool) -> tuple[Atoms, np.ndarray]:
    """3x3x3 (54 W) or 5x5x5 (250 W) conventional cells: in 2x2x2 Li images 6.3 Å apart and the
    stiff small cell push the octahedral site up by 0.15-0.7 eV, depending on the model."""
    repeat = 5 if full else 3
    host = bulk("W", "bcc", a=W_A, cubic=True).repeat(repeat)
    return host, np.eye(3) * W_A


def w_bulk_tt(full: bool = False) -> HopStudy:
    """Li in bcc W between nearest tetrahedral sites (1/2,1/4,0) -> (1/4,1/2,0), 1.12 Å apart."""
    host, conv = _w_bulk(full)
    initial, final = _interstitial_hop(host, conv, (0.5, 0.25, 0.0), (0.25, 0.5, 0.0))
    return HopStudy("w-bulk-tt", "Li in bcc W: tetrahedral -> nearest tetrahedral", initial, final,
                    len(host), 0.28, "DFT NEB, Wang et al., Adv. Mater. 2025")


def w_bulk_tot(full: bool = False) -> HopStudy:
    """Li in bcc W from tetrahedral (1/2,1/4,0) to tetrahedral (1/2,3/4,0) straight through the
    octahedral site (1/2,1/2,0)."""
    host, conv = _w_bulk(full)
    initial, final = _interstitial_hop(host, conv, (0.5, 0.25, 0.0), (0.5, 0.75, 0.0))
    return HopStudy("w-bulk-tot", "Li in bcc W: tetrahedral -> octahedral -> tetrahedral", initial, final,
                    len(host))


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


def _mg_host(full: bool) -> tuple[Atoms, np.ndarray]:
    unit = bulk("Mg", "hcp", a=MG_A, c=MG_C)
    host = unit.repeat((4, 4, 3) if full else (2, 2, 2))
    return host, np.array(unit.cell)


def mg_interstitial_c(full: bool = False) -> HopStudy:
    """Li interstitial in hcp Mg: octahedral (2/3,1/3,1/4) -> octahedral (2/3,1/3,3/4) along c
    (Mg at (0,0,0) and (1/3,2/3,1/2), ASE's setting)."""
    host, conv = _mg_host(full)
    initial, final = _interstitial_hop(host, conv, (2 / 3, 1 / 3, 0.25), (2 / 3, 1 / 3, 0.75))
    return HopStudy("mg-interstitial-c", "Li interstitial in hcp Mg: octahedral -> octahedral along c",
                    initial, final, len(host))


def mg_interstitial_basal(full: bool = False) -> HopStudy:
    """Li interstitial in hcp Mg: octahedral (2/3,1/3,1/4) -> neighbouring octahedral (5/3,1/3,1/4)
    in the basal plane."""
    host, conv = _mg_host(full)
    initial, final = _interstitial_hop(host, conv, (2 / 3, 1 / 3, 0.25), (5 / 3, 1 / 3, 0.25))
    return HopStudy("mg-interstitial-basal", "Li interstitial in hcp Mg: octahedral -> octahedral in the "
                    "basal plane", initial, final, len(host))


def _vacancy_hop(host: Atoms, mover: int, vacancy: int, symbol: str) -> tuple[Atoms, Atoms, int]:
    """Atom ``mover`` (made ``symbol``) hops into the site of the removed atom ``vacancy``."""
    initial = host.copy()
    initial[mover].symbol = symbol
    final = initial.copy()
    final.positions[mover] = host.positions[vacancy]
    del initial[vacancy]
    del final[vacancy]
    return initial, final, mover - (1 if vacancy < mover else 0)


def _nearest(host: Atoms, index: int, in_plane: bool | None) -> int:
    """Nearest neighbour of ``index``; ``in_plane`` True/False restricts to the same/another z plane."""
    vectors = host.get_distances(index, range(len(host)), mic=True, vector=True)
    distances = np.linalg.norm(vectors, axis=1)
    distances[index] = np.inf
    if in_plane is not None:
        same_plane = np.abs(vectors[:, 2]) < 0.1
        distances[same_plane != in_plane] = np.inf
    return int(np.argmin(distances))


def _mg_vacancy(full: bool, in_plane: bool, name: str, description: str) -> HopStudy:
    host, _ = _mg_host(full)
    mover = 0
    initial, final, moving = _vacancy_hop(host, mover, _nearest(host, mover, in_plane), "Li")
    return HopStudy(name, description, initial, final, moving)


def mg_vacancy_basal(full: bool = False) -> HopStudy:
    """Substitutional Li in hcp Mg hopping into a vacant nearest Mg site in the same basal plane."""
    return _mg_vacancy(full, True, "mg-vacancy-basal", "Li in hcp Mg: vacancy-mediated hop in the basal plane")


def mg_vacancy_c(full: bool = False) -> HopStudy:
    """Substitutional Li in hcp Mg hopping into a vacant nearest Mg site of the next basal plane."""
    return _mg_vacancy(full, False, "mg-vacancy-c", "Li in hcp Mg: vacancy-mediated hop out of the basal plane")


def li_vacancy(full: bool = False) -> HopStudy:
    """Li in bcc Li hopping into a vacant nearest-neighbour site (a*sqrt(3)/2 = 3.04 Å)."""
    host = bulk("Li", "bcc", a=LI_A, cubic=True).repeat(4 if full else 3)
    initial, final, moving = _vacancy_hop(host, 0, _nearest(host, 0, None), "Li")
    return HopStudy("li-vacancy", "Li vacancy hop in bcc Li", initial, final, moving)


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
}


def build_study(name: str, full: bool = False) -> HopStudy:
    """Endpoints for a named study (see ``STUDIES``); small cells unless ``full``."""
    if name not in STUDIES:
        raise InputError(f"unknown NEB study {name!r}; choose from {', '.join(STUDIES)}")
    return STUDIES[name](full)
