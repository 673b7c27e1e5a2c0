"""Work of adhesion, surface and interface energy with ASE's EMT (fast, analytic-quality cross-checks)."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, fcc111
from ase.calculators.emt import EMT

from ssbkit.errors import InputError
from ssbkit.interfaces.structures.slabs import build_slab
from ssbkit.workflows.adhesion import EV_PER_A2_IN_J_PER_M2, adhesion, surface_area, surface_energy
from ssbkit.workflows.relax import relax


@pytest.fixture(scope="module")
def cu_bulk():
    """EMT-relaxed fcc Cu (primitive cell)."""
    return relax(bulk("Cu", "fcc", a=3.6), EMT(), relax_cell=True, fmax=1e-3, optimizer="BFGS").atoms


def _independent_gamma(cu_bulk, layers: int = 6) -> float:
    """Unrelaxed Cu(111) surface energy (J/m²) from ASE's own fcc111 builder and the EMT bulk energy: a code
    path that shares nothing with ssbkit's slab builder or adhesion workflow."""
    a0 = cu_bulk.cell.lengths()[0] * np.sqrt(2)
    slab = fcc111("Cu", size=(1, 1, layers), a=a0, vacuum=8.0, periodic=True)
    slab.calc = EMT()
    reference = cu_bulk.copy()
    reference.calc = EMT()
    e_bulk = reference.get_potential_energy() / len(reference)
    return (slab.get_potential_energy() - layers * e_bulk) / (2 * surface_area(slab)) * EV_PER_A2_IN_J_PER_M2


def _split_slab(cu_bulk, layers: int = 8):
    a0 = cu_bulk.cell.lengths()[0] * np.sqrt(2)
    slab = fcc111("Cu", size=(1, 1, layers), a=a0, vacuum=8.0, periodic=True)
    slab.set_array("interface_part", (slab.positions[:, 2] > slab.positions[:, 2].mean()).astype(int))
    return slab


def test_surface_energy_matches_independent_ase_value(cu_bulk):
    """ssbkit's Cu(111) slab + surface_energy agree with ASE's fcc111 + EMT (1.04 J/m² unrelaxed; EMT is
    short-ranged, so 4 and 6 layers agree to 1e-6 J/m²)."""
    gamma_ase = _independent_gamma(cu_bulk)
    assert gamma_ase == pytest.approx(1.044, abs=0.005)
    slab = build_slab(cu_bulk, "111", layers=4, vacuum_A=12.0)
    result = surface_energy(slab, cu_bulk, EMT(), relax_positions=False, relax_bulk=False)
    assert result.surface_energy_J_m2 == pytest.approx(gamma_ase, abs=1e-4)


def test_adhesion_of_a_slab_with_itself_is_twice_its_surface_energy(cu_bulk):
    """Cleaving bulk-like Cu(111) into two halves costs two surfaces: W_adh = 2 gamma, gamma_interface = 0."""
    gamma_ase = _independent_gamma(cu_bulk)
    result = adhesion(_split_slab(cu_bulk), EMT(), cu_bulk, cu_bulk, relax_positions=False, relax_bulk=False)
    assert result.work_of_adhesion_J_m2 == pytest.approx(2 * gamma_ase, abs=1e-4)
    assert result.interface_energy_J_m2 == pytest.approx(0.0, abs=1e-4)
    relaxed = adhesion(_split_slab(cu_bulk), EMT(), cu_bulk, cu_bulk, relax_positions=True, fmax=0.005)
    assert relaxed.converged
    gamma_relaxed = surface_energy(_split_slab(cu_bulk)[:4], cu_bulk, EMT(), fmax=0.005).surface_energy_J_m2
    assert relaxed.work_of_adhesion_J_m2 == pytest.approx(2 * gamma_relaxed, abs=2e-3)
    assert gamma_relaxed < gamma_ase  # relaxation lowers the surface energy


def test_adhesion_bad_input(cu_bulk):
    slab = _split_slab(cu_bulk)
    del slab.arrays["interface_part"]
    with pytest.raises(InputError, match="interface_part"):
        adhesion(slab, EMT())
    cu3au = Atoms("AuCu3", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
                  cell=[3.75] * 3, pbc=True)
    au_rich = Atoms("Au2Cu2", positions=[[0, 0, 0], [1.9, 1.9, 0], [1.9, 0, 1.9], [0, 1.9, 1.9]],
                    cell=[3.75, 3.75, 15.0], pbc=True)
    with pytest.raises(InputError, match="not stoichiometric"):
        surface_energy(au_rich, cu3au, EMT(), relax_positions=False)
