"""kMC against MD with the same model, where harmonic transition-state theory should hold.

The system: vacancy self-diffusion in fcc Al with ASE's EMT, one vacancy in a 2x2x2 conventional cell (31
atoms), at 900 K (EMT's migration barrier 0.40 eV is 5.2 kT there, so jumps are rare events, and MD still
sees tens of them in 32 ps). Both sides use the same potential and the same cell: ``kinetics`` (NEB,
Vineyard prefactor, kMC) and ssbkit's replica MD (Langevin), analysed by ``compare_with_md``.

References: MD itself, run here. Transition-state theory counts every crossing of the saddle as a jump, so
MD's rate is TST's times a transmission coefficient kappa <= 1 (recrossings; Vineyard, J. Phys. Chem. Solids
3, 121 (1957); dynamical corrections to TST for hops in metals are of order one, e.g. Voter & Doll, J. Chem.
Phys. 82, 80 (1985)), up to anharmonicity. D must agree within the factor 2-3 that the issue asks of this comparison; the bounds
below leave room for the statistics of ~20 jumps (Poisson, about 22 %).
"""

from __future__ import annotations

import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from scipy.optimize import minimize_scalar

from ssbkit.errors import InputError
from ssbkit.workflows.kinetics import compare_with_md, host_system, kinetics
from ssbkit.workflows.md import run_replicas
from ssbkit.workflows.settings import KineticsSettings


def emt_lattice_constant(element: str) -> float:
    """EMT's fcc equilibrium lattice constant (Å): the minimum of the energy per atom."""

    def energy(a: float) -> float:
        atoms = bulk(element, "fcc", a=a)
        atoms.calc = EMT()
        return atoms.get_potential_energy()

    return float(minimize_scalar(energy, bounds=(3.5, 4.5), method="bounded", options={"xatol": 1e-4}).x)


def test_kmc_meets_md_for_vacancy_self_diffusion_in_emt_aluminium(tmp_path):
    a = emt_lattice_constant("Al")
    host = bulk("Al", "fcc", a=a, cubic=True)
    settings = KineticsSettings(mechanism="vacancy", species="Al", temperatures=(900.0,), max_length=3.0,
                                supercell_min_length=2 * a - 0.1, kmc_walkers=512, kmc_steps=500)
    result = kinetics(host_system(host, settings, name="al"), EMT(), settings, model="emt")
    (hop,) = result.hops
    assert hop.count_per_site == 12 and 0.3 < hop.barrier_eV < 0.5 and 3e12 < hop.prefactor_Hz < 3e13

    lattice = host.repeat(2)
    cell = lattice.copy()
    del cell[0]  # the MD cell: the NEB's supercell with one vacancy
    md = run_replicas([cell, cell], [900.0, 900.0], EMT(), tmp_path, timestep=4.0, equilibration_steps=250,
                      production_steps=4000, save_every=10, seed=7, progress=False)
    (row,) = compare_with_md(result, [replica.path for replica in md.replicas], lattice.positions, cell)
    assert row.replicas == 2 and row.production_ps == pytest.approx(32.0)
    assert row.md_jumps >= 10
    assert 0.4 < row.jump_rate_ratio < 1.25  # kappa <= 1, with the Poisson error of the MD count
    assert 1 / 3 < row.D_ratio < 3
    assert 0 < row.jump_rate_ratio_std < row.jump_rate_ratio and 0 < row.D_ratio_std < row.D_ratio
    assert row.kinetic_temperature_K == pytest.approx(900.0, rel=0.05)

    with pytest.raises(InputError, match="kMC temperatures"):
        compare_with_md(kinetics(host_system(host, settings, name="al"), EMT(), settings, model="emt",
                                 temperatures=(800.0,)), [md.replicas[0].path], lattice.positions, cell)
