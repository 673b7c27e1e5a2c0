"""Bulk, slabs, heterointerfaces and grain boundaries: physical checks and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from ssbkit.errors import DataError, InputError
from ssbkit.interfaces.structures.bulk import load_bulk, write_structures
from ssbkit.interfaces.structures.checks import formal_charges, min_distance
from ssbkit.interfaces.structures.grain_boundaries import build_grain_boundary, sigma_angles
from ssbkit.interfaces.structures.heterointerfaces import build_interface, find_matches
from ssbkit.interfaces.structures.slabs import layer_indices, parse_miller, slab_terminations


def test_load_bulk_sources(tmp_path):
    w = load_bulk("W")
    assert w.get_chemical_formula() == "W" and w.cell.volume == pytest.approx(3.16**3 / 2, rel=0.01)
    path = write_structures(tmp_path / "w.cif", load_bulk("W", cubic=True))
    assert len(load_bulk(path)) == 2
    with pytest.raises(InputError, match="neither"):
        load_bulk("Unobtainium")
    with pytest.raises(DataError, match="mp-149 is not in the MP entry cache"):
        load_bulk("mp-149")  # conftest removes MP_API_KEY
    with pytest.raises(InputError, match="cannot write"):
        write_structures(tmp_path / "w.pdf", w)
    assert not list(tmp_path.glob(".w*"))  # no temporary leftovers


def test_load_bulk_from_the_mp_entry_cache(monkeypatch):
    """An MP id resolves offline from a ComputedStructureEntry in the entry cache (ssbkit entries prefetch)."""
    from pymatgen.entries.computed_entries import ComputedStructureEntry

    from ssbkit.interfaces.entries import MPSource, save_entries
    from ssbkit.io import to_structure

    monkeypatch.setenv("SSBKIT_OFFLINE", "1")
    w = to_structure(load_bulk("W", cubic=True))
    MPSource().cache_root.mkdir(parents=True, exist_ok=True)
    save_entries([ComputedStructureEntry(w, -25.9, entry_id="mp-91-GGA")], MPSource().cache_path({"W"}))
    assert load_bulk("mp-91").get_chemical_formula() == "W2"
    with pytest.raises(DataError, match="offline"):
        load_bulk("mp-149")


def test_parse_miller():
    assert parse_miller("110") == (1, 1, 0)
    assert parse_miller("1,-1,0") == (1, -1, 0)
    assert parse_miller("10-10") == (1, 0, 0)  # hexagonal (10-10) -> (100)
    with pytest.raises(InputError, match="impossible Miller index"):
        parse_miller((0, 0, 0))
    with pytest.raises(InputError, match="i must equal"):
        parse_miller((1, 0, 1, 0))


def test_slab_terminations_and_fixed_layers():
    """hcp Mg (10-10) has two distinct prism terminations (narrow and wide interlayer gap below the top
    layer); bcc W(110) has one."""
    mg = slab_terminations(load_bulk("Mg"), "10-10", layers=3, vacuum_A=10.0)
    assert len(mg) == 2
    w = slab_terminations(load_bulk("W"), "110", layers=4, vacuum_A=12.0, fix_bottom_layers=2)
    assert len(w) == 1
    slab = w[0].atoms
    assert slab.cell[2, 2] - np.ptp(slab.positions[:, 2]) == pytest.approx(12.0)
    np.testing.assert_allclose(slab.cell[2, :2], 0)  # c normal to the surface
    fixed = slab.constraints[0].index
    assert set(layer_indices(slab)[fixed]) == {0, 1}
    assert w[0].stoichiometric and not w[0].polar
    assert min_distance(slab) == pytest.approx(3.165 * np.sqrt(3) / 2, abs=0.02)  # bulk W-W distance kept


def test_interface_match_table_and_build():
    search = find_matches(load_bulk("Li"), load_bulk("W"), "110", "110", max_area=60)
    assert search.matches
    areas = [m.n_atoms for m in search.matches]
    assert areas == sorted(areas)
    best = search.matches[0]
    assert best.von_mises_strain_pct < 10
    atoms = build_interface(load_bulk("Li"), load_bulk("W"), "110", "110", max_area=60, gap_A=2.2)
    assert len(atoms) == best.n_atoms
    part = atoms.get_array("interface_part")
    film_z, substrate_z = atoms.positions[part == 1, 2], atoms.positions[part == 0, 2]
    assert film_z.min() - substrate_z.max() == pytest.approx(2.2, abs=1e-6)
    assert set(atoms.get_chemical_symbols()[i] for i in np.flatnonzero(part == 1)) == {"Li"}
    assert min_distance(atoms) > 2.0


def test_interface_keeps_terminations_with_coinciding_labels():
    """pymatgen bug: CoherentInterfaceBuilder merges terminations whose labels coincide, so Mg(10-10)'s two
    prism terminations collapse into one; ssbkit keeps both."""
    from pymatgen.analysis.interfaces.coherent_interfaces import CoherentInterfaceBuilder
    from pymatgen.analysis.interfaces.zsl import ZSLGenerator

    from ssbkit.interfaces.structures.checks import conventional_cell

    search = find_matches(load_bulk("Li"), load_bulk("Mg"), "100", "10-10", max_area=150)
    assert len(search.terminations) == 4  # 2 Li(100) x 2 Mg(10-10)
    plain = CoherentInterfaceBuilder(conventional_cell(load_bulk("Mg")), conventional_cell(load_bulk("Li")), (1, 0, 0),
                                     (1, 0, 0), zslgen=ZSLGenerator(max_area=150, bidirectional=True))
    assert len(plain.terminations) < len(search.terminations)


def test_no_match_names_the_best_match():
    with pytest.raises(InputError, match=r"no Li.* match within 0\.1% strain.*best found: area .* strain"):
        find_matches(load_bulk("Li"), load_bulk("Mg"), "100", "10-10", max_area=40, max_strain=0.001)


def test_singular_supercell_guard():
    """A ZSL match whose vectors are not an integer, non-singular combination of the cut slab's in-plane
    vectors is refused instead of being built into a degenerate cell."""
    from ssbkit.interfaces.structures.heterointerfaces import _supercell_matrix

    lattice = np.array([[3.0, 0, 0], [0, 3.0, 0], [0, 0, 10.0]])
    assert _supercell_matrix(lattice, np.array([[6.0, 0, 0], [0, 3.0, 0]])).tolist() == [[2, 0], [0, 1]]
    assert _supercell_matrix(lattice, np.array([[6.0, 0, 0], [12.0, 0, 0]])) is None  # singular
    assert _supercell_matrix(lattice, np.array([[4.5, 0, 0], [0, 3.0, 0]])) is None  # non-integer


def test_cubic_sigma5_angle():
    """Sigma 5 about <100> in a cubic lattice: 2 arctan(1/3) = 36.87 deg (Grimmer, Bollmann & Warrington,
    Acta Cryst. A30, 197 (1974))."""
    angles = sigma_angles(load_bulk("W", cubic=True), 5, (0, 0, 1))
    assert angles[0] == pytest.approx(np.degrees(2 * np.arctan(1 / 3)), abs=1e-6)
    assert angles[0] == pytest.approx(36.87, abs=0.005)


def test_w_and_mg_grain_boundaries():
    w = build_grain_boundary(load_bulk("W", cubic=True), 5, (0, 0, 1), (3, 1, 0), expand_times=1)
    assert w.gb_type == "tilt" and w.rotation_angle_deg == pytest.approx(36.87, abs=0.01)
    # Sigma 5 (310) CSL period in the boundary: a x a*sqrt(10)/2 for bcc (the centring halves it)
    assert w.area_A2 == pytest.approx(3.165**2 * np.sqrt(10), rel=0.01) or \
        w.area_A2 == pytest.approx(3.165**2 * np.sqrt(10) / 2, rel=0.01)
    assert w.min_distance_A >= 0.8 * 3.165 * np.sqrt(3) / 2
    mg = build_grain_boundary(load_bulk("Mg"), 7, (0, 0, 1), expand_times=1)
    assert mg.gb_type == "twist"
    assert mg.rotation_angle_deg == pytest.approx(21.787, abs=0.01)  # Sigma 7 [0001] twist in hcp
    assert mg.min_distance_A > 2.5


def test_ionic_grain_boundary_is_stoichiometric_and_neutral():
    """Small-cell stand-in for LLZO (same code path): antifluorite Li2O Sigma 5 (310)[001]."""
    li2o = bulk("Li2O", "fluorite", a=4.61)
    gb = build_grain_boundary(li2o, 5, (0, 0, 1), (3, 1, 0), expand_times=1)
    counts = gb.atoms.symbols.formula.count()
    assert counts["Li"] == 2 * counts["O"]
    assert gb.stoichiometric and gb.net_charge == 0
    assert formal_charges(gb.atoms).sum() == 0
    assert gb.min_distance_A >= 0.8 * 4.61 * np.sqrt(3) / 4  # 0.8 x bulk Li-O


def test_matching_atoms_follow_the_boundary_into_thicker_grains():
    """A hop next to the boundary is the same hop in a bicrystal with thicker grains: every atom within 3 Å of
    the inner boundary of the one-period LiF sigma-5 twist bicrystal has a counterpart in the two-period one with
    the same element, grain and neighbours. Reference: geometry; both are built by the same CSL construction, so
    the neighbour distances (to 3.5 Å) agree to 1e-6 Å."""
    from ssbkit.interfaces.structures.grain_boundaries import (boundary_plane_z, matching_atoms,
                                                               sigma5_twist_bicrystal)

    lif = bulk("LiF", "rocksalt", a=4.03, cubic=True)
    thin, thick = sigma5_twist_bicrystal(lif, 1), sigma5_twist_bicrystal(lif, 2)
    assert (len(thin), len(thick)) == (80, 160)
    near = np.flatnonzero(np.abs(thin.positions[:, 2] - boundary_plane_z(thin)) < 3.0)
    matches = matching_atoms(thin, thick, near)
    assert len(set(matches)) == len(near) > 20
    assert np.array_equal(thin.arrays["grain"][near], thick.arrays["grain"][matches])

    def shell(atoms, index):
        distances = np.sort(atoms.get_distances(index, range(len(atoms)), mic=True))
        return distances[(distances > 0) & (distances < 3.5)]

    for index, match in zip(near, matches):
        assert np.allclose(shell(thin, index), shell(thick, match), atol=1e-6)
    missing = thick.copy()
    del missing[matches[0]]
    with pytest.raises(InputError, match="no counterpart"):
        matching_atoms(thin, missing, near[:1])
    with pytest.raises(InputError, match="in-plane cells"):
        matching_atoms(thin, sigma5_twist_bicrystal(bulk("LiF", "rocksalt", a=4.2, cubic=True), 2), near[:1])


@pytest.mark.parametrize("seed", [1, 2])
def test_bicrystal_atom_order_depends_on_the_positions_only(seed):
    """pymatgen lists the sites next to the boundary in the order of a clustering of their distance matrix, whose
    ties fall differently with the floating-point kernels of the machine (the shipped LLZO bicrystal could not be
    rebuilt atom for atom on another CPU), and with the order of the bulk atoms. Built from the LiF cell with its
    atoms shuffled (which changes pymatgen's order), the bicrystal is the same atom for atom, and it lists its
    atoms grain by grain, each from the bottom up."""
    from ssbkit.interfaces.structures.grain_boundaries import sigma5_twist_bicrystal

    lif = bulk("LiF", "rocksalt", a=4.03, cubic=True)
    shuffled = lif[np.random.default_rng(seed).permutation(len(lif))]
    built, rebuilt = sigma5_twist_bicrystal(lif, 1), sigma5_twist_bicrystal(shuffled, 1)
    assert built.get_chemical_symbols() == rebuilt.get_chemical_symbols()
    assert np.allclose(built.positions, rebuilt.positions, atol=1e-8)
    assert np.array_equal(built.arrays["grain"], rebuilt.arrays["grain"])
    grain, height = built.arrays["grain"], built.get_scaled_positions()[:, 2]
    assert np.all(np.diff(grain) >= 0)
    for label in (0, 1):
        assert np.all(np.diff(height[grain == label]) > -1e-5)


def test_grain_boundary_bad_input():
    with pytest.raises(InputError, match="cannot be made charge-neutral"):
        build_grain_boundary(bulk("LiO", "rocksalt", a=4.0), 5, (0, 0, 1), (3, 1, 0))
    with pytest.raises(InputError, match="not a sigma 5 angle"):
        build_grain_boundary(load_bulk("W", cubic=True), 5, (0, 0, 1), (3, 1, 0), angle_deg=30.0)
    with pytest.raises(InputError, match="keeps atoms"):
        build_grain_boundary(bulk("Li2O", "fluorite", a=4.61), 5, (0, 0, 1), (3, 1, 0), expand_times=1,
                             min_distance_A=3.0)


@pytest.mark.parametrize(("film", "substrate", "film_miller", "substrate_miller", "max_area"), [
    ("Li", "Mg", "110", "0001", 70.0),
    ("Mg", "W", "0001", "110", 50.0),
    ("W", "Cu", "110", "111", 40.0),
])
def test_metal_interfaces_users_need(film, substrate, film_miller, substrate_miller, max_area):
    """Li|Mg, Mg|W and W|Cu (anode interlayers and current collector): the smallest match builds into a cell
    with the tabulated atom count, each side its own element, and no atoms closer than 1.5 Å."""
    film_bulk, substrate_bulk = load_bulk(film), load_bulk(substrate)
    best = find_matches(film_bulk, substrate_bulk, film_miller, substrate_miller, max_area=max_area).matches[0]
    atoms = build_interface(film_bulk, substrate_bulk, film_miller, substrate_miller, max_area=max_area)
    assert len(atoms) == best.n_atoms
    part = atoms.get_array("interface_part")
    assert set(atoms[part == 1].get_chemical_symbols()) == {film}
    assert set(atoms[part == 0].get_chemical_symbols()) == {substrate}
    assert min_distance(atoms) > 1.5


def test_li_on_argyrodite_interface_keeps_the_electrolyte_stoichiometric():
    """Li(100) | Li6PS5Cl(100) from the reference library: the substrate part keeps Li6PS5Cl's 6:1:5:1
    ratio (the slab cut must not break PS4 units), the film is pure Li, and no two atoms overlap
    (2.0 Å is below the shortest Li-S contact in the argyrodite, ~2.4 Å)."""
    from collections import Counter

    from ssbkit.interfaces.structures.references import load_reference_structure

    atoms = build_interface(load_bulk("Li"), load_reference_structure("Li6PS5Cl"), "100", "100",
                            max_area=150, gap_A=2.5)
    symbols = np.array(atoms.get_chemical_symbols())
    part = atoms.get_array("interface_part")
    substrate = Counter(symbols[part == 0].tolist())
    units = substrate["P"]
    assert units > 0
    assert substrate == {"Li": 6 * units, "P": units, "S": 5 * units, "Cl": units}
    assert set(symbols[part == 1].tolist()) == {"Li"}
    assert min_distance(atoms) > 2.0
