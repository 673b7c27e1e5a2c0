"""Li sites and migration hops against analytic lattice geometry."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk, fcc111

from ssbkit.errors import InputError
from ssbkit.interfaces.structures.llzo import tetragonal_llzo
from ssbkit.interfaces.structures.sites import (
    interstitial_sites,
    make_vacancy,
    migration_hops,
    supercell_repeats,
    vacancy_sites,
)

A_W = 3.165  # bcc W lattice parameter (Å)


def test_bcc_tetrahedral_sites_from_voronoi():
    """bcc has 12 tetrahedral (12d) sites per conventional cell, each 4-coordinated at a*sqrt(5)/4; they are
    the vertices of the bcc Voronoi cell (truncated octahedron)."""
    sites = interstitial_sites(bulk("W", "bcc", a=A_W, cubic=True))
    assert len(sites) == 1
    assert sites[0].kind == "tetrahedral" and sites[0].coordination == 4
    assert sites[0].multiplicity == 12
    assert sites[0].nearest_distance == pytest.approx(A_W * np.sqrt(5) / 4, abs=1e-6)


def test_bcc_distinct_tetrahedral_hops():
    """Derivation: the tetrahedral site (1/2, 1/4, 0) has 4 nearest tetrahedral sites at a*sqrt(2)/4, all
    mapped onto each other by its site symmetry -4m2, so there is ONE distinct nearest-neighbour T-T hop
    (24 per conventional cell = 12 sites x 4 / 2). The next shell, 2 sites at a/2 such as (1/2, 3/4, 0),
    is a second distinct hop that passes through the octahedral site (1/2, 1/2, 0). This is the T-T network
    of interstitials in bcc metals (Y. Fukai, The Metal-Hydrogen System, Springer 2005, ch. 5; the Li-in-W
    NEB of Wang et al., Adv. Mater. 2025, uses the same T-T hop)."""
    w = bulk("W", "bcc", a=A_W, cubic=True)
    first = migration_hops(w, mechanism="interstitial", max_length=0.4 * A_W)
    assert len(first) == 1
    assert first[0].length_A == pytest.approx(A_W * np.sqrt(2) / 4, abs=1e-6)
    assert first[0].multiplicity == 24
    two_shells = migration_hops(w, mechanism="interstitial", max_length=0.55 * A_W)
    assert [h.length_A for h in two_shells] == pytest.approx([A_W * np.sqrt(2) / 4, A_W / 2], abs=1e-6)
    assert two_shells[1].multiplicity == 12
    # the second hop's midpoint is the octahedral site, a/2 from the nearest W
    assert two_shells[1].midpoint_clearance == pytest.approx(A_W / 2, abs=1e-6)
    # the primitive cell gives the same distinct hops
    primitive = migration_hops(bulk("W", "bcc", a=A_W), mechanism="interstitial", max_length=0.55 * A_W)
    assert [h.length_A for h in primitive] == pytest.approx([h.length_A for h in two_shells])


def test_hop_endpoints_are_neb_ready():
    w = bulk("W", "bcc", a=A_W, cubic=True)
    hop = migration_hops(w, mechanism="interstitial", max_length=0.4 * A_W, supercell_min_length=8.0)[0]
    assert len(hop.start) == len(hop.end) == 3 ** 3 * 2 + 1
    assert (hop.start.symbols == hop.end.symbols).all()
    moved = np.linalg.norm(hop.end.positions - hop.start.positions, axis=1)
    assert np.flatnonzero(moved > 1e-9).tolist() == [hop.moving_index]
    assert moved[hop.moving_index] == pytest.approx(hop.length_A)
    assert hop.start[hop.moving_index].symbol == "Li"
    assert min(hop.start.cell.lengths()) >= 8.0


def test_bcc_li_vacancy_hops():
    """Vacancy hops in bcc Li: first shell a*sqrt(3)/2 (8 neighbours), second shell a (6 neighbours)."""
    a = 3.44
    hops = migration_hops(bulk("Li", "bcc", a=a, cubic=True), max_length=3.5)
    assert [h.length_A for h in hops] == pytest.approx([a * np.sqrt(3) / 2, a], abs=1e-6)
    assert [h.multiplicity for h in hops] == [8, 6]
    hop = hops[0]
    assert len(hop.start) == len(hop.end) == 3 ** 3 * 2 - 1  # 3 x 3.44 Å >= 8 Å: 3x3x3 cells minus a vacancy


def test_tetragonal_llzo_li_sites_and_shortest_hop():
    """Awaka et al. (2009): Li on 8a (tetrahedral), 16f (octahedral), 32g; the shortest Li-Li distance,
    16f-32g, is about 2.4 Å."""
    llzo = tetragonal_llzo()
    sites = vacancy_sites(llzo)
    assert sorted(s.multiplicity for s in sites) == [8, 16, 32]
    kinds = {s.multiplicity: s.kind for s in sites}
    assert kinds[8] == "tetrahedral" and kinds[16] == "octahedral"
    assert len(make_vacancy(llzo, sites[0].index)) == len(llzo) - 1
    hops = migration_hops(llzo, max_length=2.7)
    assert len(hops) == 4
    assert hops[0].length_A == pytest.approx(2.43, abs=0.02)
    assert all(len(h.start) == 191 for h in hops)


def test_interstitials_at_a_surface_skip_the_vacuum():
    slab = fcc111("Cu", size=(2, 2, 4), vacuum=8.0, periodic=True)
    sites = interstitial_sites(slab, max_radius=2.2)
    assert sites and all(s.nearest_distance <= 2.2 for s in sites)
    assert supercell_repeats(slab, 8.0)[2] == 1


def test_bad_input():
    w = bulk("W", "bcc", a=A_W, cubic=True)
    with pytest.raises(InputError, match="mechanism"):
        migration_hops(w, mechanism="exchange")
    with pytest.raises(InputError, match="no Li"):
        migration_hops(w, mechanism="vacancy")
    with pytest.raises(InputError, match="no interstitial void"):
        interstitial_sites(w, min_radius=2.5)


def test_sites_and_hops_at_a_grain_boundary():
    """At a W Sigma 5 (310) boundary the voids near the boundary are larger than the bulk tetrahedral void,
    and the single bulk T-T hop splits into many distinct hops."""
    from ssbkit.interfaces.structures.grain_boundaries import build_grain_boundary

    gb = build_grain_boundary(bulk("W", "bcc", a=A_W, cubic=True), 5, (0, 0, 1), (3, 1, 0), expand_times=1)
    sites = interstitial_sites(gb.atoms)
    assert max(s.nearest_distance for s in sites) > A_W * np.sqrt(5) / 4 + 0.1
    hops = migration_hops(gb.atoms, mechanism="interstitial", max_length=1.2)
    assert len(hops) > 2 and all(1.0 <= h.length_A <= 1.2 for h in hops)
