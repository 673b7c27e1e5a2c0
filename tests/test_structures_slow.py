"""Production-size structures (LLZO bicrystals and interfaces): run with ``pytest -m slow``."""

from __future__ import annotations

import numpy as np
import pytest

from ssbkit.interfaces.structures.checks import formal_charges, min_distance
from ssbkit.interfaces.structures.llzo import CUBIC_A, cubic_llzo, llzo_grain_boundary

pytestmark = pytest.mark.slow


def test_cubic_llzo_sigma5_twist_boundary():
    """Sigma 5 (001) twist of cubic LLZO: CSL boundary cell sqrt(5) a x sqrt(5) a, area 5 a² = 841 Å²;
    two grains of 5 conventional cells each (1920 atoms), Li56La24Zr16O96 per cell, neutral, no atoms
    closer than 0.8 x the shortest bulk distance."""
    gb = llzo_grain_boundary(5, (0, 0, 1))
    assert gb.gb_type == "twist" and gb.rotation_angle_deg == pytest.approx(36.87, abs=0.01)
    assert gb.area_A2 == pytest.approx(5 * CUBIC_A**2, rel=1e-6)
    assert gb.n_atoms == 2 * 5 * 192
    assert gb.atoms.symbols.formula.count() == {"La": 240, "Li": 560, "O": 960, "Zr": 160}
    assert gb.stoichiometric and gb.net_charge == 0 and formal_charges(gb.atoms).sum() == 0
    assert gb.min_distance_A >= 0.8 * min_distance(cubic_llzo())


def test_cubic_llzo_sigma5_tilt_boundary():
    gb = llzo_grain_boundary(5, (0, 0, 1), (3, 1, 0))
    assert gb.gb_type == "tilt"
    assert gb.stoichiometric and gb.net_charge == 0
    assert gb.n_atoms % 192 == 0
    assert gb.min_distance_A >= 0.8 * min_distance(cubic_llzo())


def test_cubic_llzo_supercell_ordering():
    cell = cubic_llzo((2, 1, 1))
    assert cell.symbols.formula.count() == {"La": 48, "Li": 112, "O": 192, "Zr": 32}
    assert min_distance(cell[cell.symbols == "Li"]) >= 2.0
    assert (cell.get_array("wyckoff")[cell.symbols == "Li"] == "24d").sum() == 26  # 3t <= 40n caps 27 -> 26
    np.testing.assert_allclose(cell.cell.lengths(), [2 * CUBIC_A, CUBIC_A, CUBIC_A])


def test_li_on_cubic_llzo_interface():
    """Li(100) on cubic LLZO(100): a 1x1 LLZO face (a² = 168 Å²) takes a strained Li film; every LLZO
    termination pair is listed; the built cell keeps the LLZO formula units and has no atomic overlaps."""
    from ssbkit.interfaces.structures.bulk import load_bulk
    from ssbkit.interfaces.structures.heterointerfaces import build_interface, find_matches

    llzo = cubic_llzo()
    search = find_matches(load_bulk("Li"), llzo, "100", "100", max_area=200, film_layers=2, substrate_layers=1)
    assert search.matches[0].area_A2 == pytest.approx(CUBIC_A**2, rel=1e-6)
    assert len(search.terminations) > 2
    atoms = build_interface(load_bulk("Li"), llzo, "100", "100", max_area=200, film_layers=2, substrate_layers=1)
    substrate = atoms[atoms.get_array("interface_part") == 0]
    assert substrate.symbols.formula.count() == {"La": 24, "Li": 56, "O": 96, "Zr": 16}
    assert min_distance(atoms) > 1.5


@pytest.mark.timeout(1200)
def test_llzo_coordinates_sit_near_a_chgnet_minimum():
    """The LLZO Wyckoff coordinates (Awaka 2009 tetragonal; Geiger 2011 cubic framework) were entered
    without the papers at hand, so they are checked against physics: relaxing the atoms at the
    experimental cell with CHGNet (tetragonal with its I4_1/acd symmetry kept) moves no atom far.
    Measured: tetragonal Li <= 0.17, O <= 0.09, La <= 0.03 Å; cubic (Ewald-ordered Li) every atom
    <= 0.25 Å. A mistyped coordinate (0.05 in fractions is 0.65 Å here) or a wrong Wyckoff choice would
    move by more than 0.5 Å or leave a site far from its neighbours; bounds: 0.3 Å for Li, 0.2 for the
    framework."""
    import torch
    from ase.constraints import FixSymmetry
    from ase.geometry import find_mic
    from ase.optimize import FIRE

    from ssbkit.interfaces.structures.llzo import tetragonal_llzo
    from ssbkit.potentials import load

    torch.set_num_threads(2)
    calculator = load("chgnet", device="cpu")
    for start, symmetric in ((tetragonal_llzo(), True), (cubic_llzo(), False)):
        atoms = start.copy()
        atoms.calc = calculator
        if symmetric:
            atoms.set_constraint(FixSymmetry(atoms, symprec=1e-3))
        FIRE(atoms, logfile=None).run(fmax=0.03, steps=400)
        _, moved = find_mic(atoms.positions - start.positions, atoms.cell, True)
        lithium = start.symbols == "Li"
        assert moved[lithium].max() < 0.3 and moved[~lithium].max() < 0.2
